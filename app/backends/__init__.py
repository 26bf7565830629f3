"""Storage, broker and rate-limit backends: one module per backend, chosen by URL scheme."""
