"""ModelCache: one load per key, per-device replacement, release, and thread safety."""

from __future__ import annotations

import threading
import time

from gs_enhancer_addon.core.model_cache import ModelCache, ModelKey


def key(backend="svd", sources="a", device="cuda:0", dtype="bfloat16") -> ModelKey:
    return ModelKey(backend, sources, device, dtype)


def test_a_key_is_loaded_once():
    cache, loads = ModelCache(), []
    first = cache.get(key(), lambda: loads.append(1) or object())
    assert cache.get(key(), lambda: loads.append(1) or object()) is first
    assert loads == [1]


def test_a_new_set_replaces_the_backends_old_one_on_that_device_only():
    cache = ModelCache()
    cache.get(key(sources="a"), object)
    cache.get(key(device="cuda:1"), object)
    cache.get(key(backend="clipstyler"), object)
    cache.get(key(sources="b"), object)  # another SVD on cuda:0: the first one goes
    assert set(cache.keys()) == {key(sources="b"), key(device="cuda:1"), key(backend="clipstyler")}


def test_release_drops_everything_and_counts():
    cache = ModelCache()
    cache.put(key(), object())
    cache.get(key(backend="clipstyler"), object)
    assert cache.release() == 2 and len(cache) == 0


def test_two_threads_asking_for_one_key_load_it_once():
    cache, loads = ModelCache(), []

    def slow_load():
        loads.append(1)
        time.sleep(0.05)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(key(), slow_load))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1] and results[0] is results[1]
