"""What operators do: entity actions and dead letters."""
