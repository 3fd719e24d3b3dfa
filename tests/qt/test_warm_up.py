"""The first Auto-rig of a session does not freeze: a background thread compiles skan's numba code at start-up."""

from skan import csr

from poseanything_studio.qt.app import warm_up_auto_rig


def test_the_warm_up_compiles_what_auto_rig_runs_in_a_daemon_thread():
    thread = warm_up_auto_rig()
    assert thread.daemon  # closing the window never waits for it
    thread.join(timeout=300)
    assert not thread.is_alive()
    # skan's per-process compiles (cache=False: numba cannot cache what takes its jitclasses) are done
    for function in (csr._build_paths, csr._compute_distances):
        assert function.signatures, f"{function.__name__} was not compiled by the warm-up"
