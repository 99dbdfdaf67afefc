"""MDL-008 ISP behaviour classifier: groups recipient domains and providers by how they answer,
and flags a provider whose answers moved."""
