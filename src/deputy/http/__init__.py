"""The Starlette adapter: parse the request, call the service, render the result."""
