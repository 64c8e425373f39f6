"""The queries the rest of calsync uses, one module per resource. Every function that reads customer data
takes the caller's project id and filters by it."""
