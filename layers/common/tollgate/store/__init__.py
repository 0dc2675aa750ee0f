"""The only package that knows table layouts: PynamoDB models and the queries on them."""
