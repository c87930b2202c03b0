"""Running LiteMX on one machine: the local AWS (DynamoDB Local and moto server). Not shipped to Lambda."""
