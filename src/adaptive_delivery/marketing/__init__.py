"""The marketing optimisation product (the second spec): campaign performance, bidding, variant
selection and experiments, on the same platform. Room reserved here so that the import contracts
(products never import each other) hold from the first module it gets."""
