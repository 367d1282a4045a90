"""Store: one writer at a time, named to whoever else tries."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from gradtrace.errors import StoreError
from gradtrace.store import Store


def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    first, second = Store(tmp_path), Store(tmp_path)
    with first.write_lock():
        with pytest.raises(StoreError, match=(
                rf"The run store at {tmp_path} is being written by another process: PID {os.getpid()} on host "
                r"'.*', started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d.*One writer at a time")):
            with second.write_lock():
                pass
        assert second.lock_holder()["pid"] == os.getpid()
        assert first.lock_holder() is None  # its own lock is nobody else's
    assert second.lock_holder() is None
    with second.write_lock():
        pass


def test_the_lock_is_reentrant_for_the_same_store(tmp_path):
    store = Store(tmp_path)
    with store.write_lock():
        with store.write_lock():
            pass
        # Still held after the inner block.
        with pytest.raises(StoreError, match="being written by another process"):
            with Store(tmp_path).write_lock():
                pass


_HOLDER = textwrap.dedent("""
    import sys, time
    from gradtrace.store import Store
    with Store(sys.argv[1]).write_lock():
        print("locked", flush=True)
        time.sleep(60)
""")


def test_a_writer_in_another_process_is_named_and_its_lock_dies_with_it(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        store = Store(tmp_path)
        assert store.lock_holder()["pid"] == holder.pid
        with pytest.raises(StoreError, match=rf"PID {holder.pid} on host .*\(`-c {tmp_path}`\)"):
            with store.write_lock():
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    # The system releases the lock of a killed holder; its stale record is not a holder.
    assert store.lock_holder() is None
    with store.write_lock():
        pass
