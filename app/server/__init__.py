"""The web server and the process around the domain: ASGI app, CLI, routes, middleware, workers."""
