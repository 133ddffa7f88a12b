"""The platform's date formats per language (``FORMAT_MODULE_PATH``).

Templates never spell a date format out (``|date:"j M Y"`` would print an English month
abbreviation inside Chinese text); they name one (``|date:"DATE_FORMAT"``) and each language
defines it here, falling back to Django's own locale formats for the rest.
"""
