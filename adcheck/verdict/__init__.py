"""The verdict on each entry of a backend's Jacobian, as a chain of deciders.

``tolerances`` holds the one table of tolerances and machine epsilons (numpy only, so the
numerics below every stage may read it); ``reference`` resolves the finite-difference reference
that every backend is judged against; ``taylor`` and ``witnesses`` are the second witnesses;
``chain`` runs the deciders in order over one backend's entries; ``messages`` turns the result
into the verdict's words. ``adcheck.compare`` judges a whole run with them.
"""
