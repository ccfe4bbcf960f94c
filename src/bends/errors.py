"""How bends tells a user something went wrong: errors (one line, exit 2) and warnings."""


class BendsError(ValueError):
    """A user error (bad file, bad shape, impossible request).

    The CLI prints its message as one line and exits with status 2.
    """


class OverBudget(BendsError):
    """A computation refused because it would need more memory than the budget
    (:mod:`bends.budget`); a sweep may record the refusal and go on."""


class AssumptionWarning(UserWarning):
    """bends had to assume something the input does not say (a state_dict stores no
    activations, so ReLU is assumed between its Linear layers); the CLI prints it as a note."""


class ResolutionWarning(UserWarning):
    """float64 can no longer resolve two breakpoints; counts near them may be off by one.

    Raised by the float tracer when knots come closer than ``RESOLUTION`` (in the segment
    parameter t) or a computed crossing lands on top of an existing knot. ``exact=True``
    removes the doubt for small networks.
    """
