"""Serving adapters: MLServer runtimes (run in the serving environment) and the local serving stack."""
