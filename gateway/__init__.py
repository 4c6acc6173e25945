"""gateway: the public GraphQL API (Strawberry on uvicorn) in front of the gRPC services, with live status."""
