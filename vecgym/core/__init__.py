"""The batch-first physics engine: B roads advanced one time slot per call (see ``engine``).

Modules by concept: ``traffic`` (mobility and traffic events), ``cells`` (serving cells,
handover, migration), ``radio`` (path loss, radio map, fading, noise, rates), ``arrivals`` (the
task process), ``fifo`` and ``phases`` (the exact queues), ``taskcols`` (the in-flight task
table), ``metrics`` (streaming episode metrics), ``rng`` (counter-based random numbers),
``kernels`` and ``backend`` (the optional numba fast path).
"""
