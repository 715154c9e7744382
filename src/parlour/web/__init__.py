"""The HTTP edge: routes, request parsing, error envelope, pages. Calls services only."""
