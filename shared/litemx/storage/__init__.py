"""DynamoDB storage: the only place (with the store modules) that imports pynamodb."""
