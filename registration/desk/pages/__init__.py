"""The clerk's pages, one module a page or group of pages, each with its own ``routes``."""
