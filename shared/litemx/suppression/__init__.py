"""Addresses LiteMX will not send to: globally after hard bounces, per account after complaints."""
