"""Adaptive Delivery."""
