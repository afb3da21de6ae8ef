"""Argument types of the ``fastjam`` command line: validated numbers, ``--set`` overrides and a parser
whose errors are one line, like every other fastjam error."""
import argparse


def overrides(pairs):
    """``--set section.key=value`` pairs as a dict of parsed values."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {pair!r} must be of the form section.key=value, e.g. --set sampler.steps=5000")
        out[key.strip()] = parse_value(value.strip())
    return out


def parse_value(text):
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def int_at_least(low):
    """argparse type: an integer >= ``low`` (argparse names the option in the message)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    return parse


def seed(text):
    value = int_at_least(0)(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2^32), got {value}")
    return value


def positive_float(text):
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), like every other fastjam error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_los_nodes(parser, default, default_text):
    """The ``--los-nodes`` option: jampy's line-of-sight quadrature (0) or the fixed rule of
    :mod:`fastjam.jampy_los` with that many nodes (>= 32)."""
    parser.add_argument("--los-nodes", type=int_at_least(0), default=default, metavar="N",
                        help="line-of-sight quadrature: 0 jampy's adaptive one, N >= 32 a fixed tanh-sinh rule giving "
                             "both linear terms at once (fastjam.jampy_los; 128 is within ~1e-7 of the exact integral, "
                             f"jampy's within ~1e-4, and several times faster); default {default_text}")


def add_family_design(parser):
    """The options of ``fastjam simulate`` that shape the MGE family's design (:class:`fastjam.family.FamilySpace`)."""
    parser.add_argument("--inclination", type=positive_float, nargs=2, metavar=("LO", "HI"),
                        help="MGE family: the design's inclination range in degrees, uniform in cos i (default 10 90); "
                             "e.g. 60 90 samples flattened, nearly edge-on galaxies more densely")
    parser.add_argument("--family-range", nargs=3, action="append", metavar=("NAME", "LO", "HI"),
                        help="MGE family: narrow one range of the design (fastjam.family.FamilySpace), e.g. disk_q "
                             "0.06 0.2; repeatable; must lie inside the family's")
    parser.add_argument("--outer-radius", type=positive_float, nargs=2, metavar=("LO", "HI"),
                        help="MGE family: fit each galaxy's MGE only out to R_max, log-uniform in [LO, HI] R_e of the "
                             "untruncated galaxy, as mgefit fits an image of finite extent (default: untruncated)")
