"""compare: two runs → a verdict (``drift``), on paired statistics (``stats``)."""
