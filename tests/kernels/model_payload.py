"""A module a hostile file names: the safety tests check that opening such a file never imports it."""

IMPORTED = True


def boom(*args):
    raise AssertionError("a model file ran code")
