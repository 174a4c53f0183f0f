"""Fixtures: the temporary directory, PKI and echo backend most test classes start
with, and CertgateTestCase, one certgate per class."""

import os

from certgate_testkit.net import free_port

from .pki import make_pki
from .processes import Backend, make_tempdir, remove_tree, start_certgate


def set_up_testbed(owner, backend=True, add_cleanup=None, prefix="certgate-it-"):
    """set_up_testbed gives owner (a TestCase class in setUpClass, or any object when
    add_cleanup is given, e.g. unittest.addModuleCleanup) a temporary directory
    owner.tmp, the test PKI owner.pki (in tmp/pki) and, with backend, a started echo
    backend owner.backend (without, owner.backend is left as it is). Everything is
    removed or stopped by the cleanups (addClassCleanup unless add_cleanup is given),
    also when a later step fails. Returns owner."""
    add = add_cleanup or owner.addClassCleanup
    owner.tmp = make_tempdir(prefix)
    add(remove_tree, owner.tmp)
    os.makedirs(os.path.join(owner.tmp, "pki"))
    owner.pki = make_pki(os.path.join(owner.tmp, "pki"))
    if backend:
        owner.backend = Backend(owner.tmp)
        add(owner.backend.kill)
        owner.backend.start()
    return owner


class CertgateTestCase:
    """Mixin for unittest.TestCase classes: one temp dir, PKI, backend and certgate per
    class (setUpClass), all cleaned up with addClassCleanup even when setUpClass fails.

    Subclasses may set CONFIG (kwargs for write_config) and START_BACKEND.
    """

    CONFIG = {}
    START_BACKEND = True

    @classmethod
    def setUpClass(cls):
        cls.backend = None
        set_up_testbed(cls, backend=cls.START_BACKEND)
        cls.cg = None
        ports = [cls.backend.port] if cls.backend else [free_port()]
        cls.cg = start_certgate(cls.tmp, cls.pki, ports, **cls.CONFIG)
        cls.addClassCleanup(cls.cg.kill)
        cls.port = cls.cg.port

    def url(self, path, host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)
