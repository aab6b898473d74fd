"""``python -m codegen``: turn a catalog of JSON Schemas into a typed Python package.

See :func:`codegen.__main__.main` for the command line; :func:`codegen.plan.plan` computes the files.
"""
