"""Turn a ``RunReport`` into text. The only formatting code; the core never prints."""

FORMATS = ("table", "json", "junit", "github", "sarif", "markdown")
