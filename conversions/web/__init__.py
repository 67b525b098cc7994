"""Flask plumbing every blueprint shares: the one error shape and its handlers (with a hook a
blueprint registers for its refusals), admin access with one bearer parser, query parameters,
protections and security headers, sessions, the secret key, logging, trusted proxies, the rate
limiter, and the OpenAPI builder. May import ``core`` and ``store``."""
