"""The predictive digital twin (forecasters and the ``VEC-pDT-v0`` observation wrapper).

Not built yet: this package is reserved for it (see the project's issue tracker).
"""
