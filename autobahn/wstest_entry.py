# -*- coding: utf-8 -*-
"""Entry point for wstest in weft's local install (Python 2.7; see xtask/src/autobahn/wstest.rs).

`cargo xtask autobahn` runs this file with the bullseye root's python2.7 instead of the
`wstest` console script, for one reason: wstest's listening sockets (fuzzingserver, its web
page) bind to every interface, and a test run has no business listening beyond loopback.
Twisted's listenTCP/listenSSL are wrapped so that an empty interface becomes
$WEFT_WSTEST_BIND (default 127.0.0.1; set it to "" for wstest's own behaviour).
The test suite itself is not changed.
"""
import os
import sys

# wstest installs its Twisted reactor when imported; import it before touching the reactor.
from autobahntestsuite import wstest
from twisted.internet import reactor

BIND = os.environ.get("WEFT_WSTEST_BIND", "127.0.0.1")


def _on_loopback(listen, interface_position):
    """Wraps a reactor.listenXXX whose `interface` argument defaults to '' (all interfaces)."""

    def wrapper(*args, **kwargs):
        if len(args) > interface_position:
            if not args[interface_position]:
                args = args[:interface_position] + (BIND,) + args[interface_position + 1:]
        elif not kwargs.get("interface"):
            kwargs["interface"] = BIND
        return listen(*args, **kwargs)

    return wrapper


if BIND:
    # listenTCP(port, factory, backlog=50, interface='')
    reactor.listenTCP = _on_loopback(reactor.listenTCP, 3)
    # listenSSL(port, factory, contextFactory, backlog=50, interface='')
    reactor.listenSSL = _on_loopback(reactor.listenSSL, 4)

sys.argv[0] = "wstest"
sys.exit(wstest.run())
