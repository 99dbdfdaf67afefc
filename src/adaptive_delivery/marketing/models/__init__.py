"""The marketing product's models, one folder each, registered through the entry points."""
