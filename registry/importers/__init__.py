"""Importers: files in, change sets out, through the service layer."""
