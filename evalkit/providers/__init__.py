"""providers stage."""
