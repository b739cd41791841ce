"""The data directory's store: room to record, the sessions in it, safe look-ups by id."""

import pytest

from device.storage import SessionStore, StorageFullError
from tests.drivers.sessions.test_recorder import record


def test_store_refuses_to_start_below_the_reserve_and_lists_and_deletes(tmp_path):
    store = SessionStore(tmp_path, reserve_bytes=10**18)
    with pytest.raises(StorageFullError, match="must stay free"):
        store.check_can_record()
    store = SessionStore(tmp_path, reserve_bytes=0)
    st = store.check_can_record()
    assert st.minutes_left > 0 and st.free_bytes <= st.total_bytes
    for name in ("a", "b"):
        record(tmp_path / name, 1).close()
    (tmp_path / "not-a-session").mkdir()
    assert [m.id for _, m in store.sessions()] == ["a", "b"]
    store.delete("a")
    assert [m.id for _, m in store.sessions()] == ["b"] and not (tmp_path / "a").exists()
    with pytest.raises(KeyError):
        store.delete("a")
    first = store.new_session_dir()
    first.mkdir()
    assert store.new_session_dir() != first  # same second: a suffix keeps them apart


def test_look_ups_stay_inside_the_data_directory(tmp_path):
    store = SessionStore(tmp_path, reserve_bytes=0)
    record(tmp_path / "a", 1).close()
    (tmp_path / "a" / "products").mkdir()
    (tmp_path / "a" / "products" / "map.ply").write_text("ply")
    (tmp_path / "a" / "products" / ".checkpoint.pt").write_text("x")
    assert store.get("a") == tmp_path / "a"
    assert store.product("a", "map.ply") == tmp_path / "a" / "products" / "map.ply"
    for bad in ("..", "../a", "a/b", ".hidden", ""):
        with pytest.raises(KeyError):
            store.get(bad)
    (tmp_path / "a" / "products" / "georef").mkdir()
    (tmp_path / "a" / "products" / "georef" / "map.laz").write_text("las")
    (tmp_path / "a" / "products" / "georef" / "map.e57.tmp").write_text("half")
    geo = store.product("a", "georef/map.laz")
    assert geo == tmp_path / "a" / "products" / "georef" / "map.laz"
    for bad in ("..", "../session.json", "a/b", ".checkpoint.pt", "", "nope.ply", "georef",
                "georef/..", "georef/../map.ply", "georef/../../session.json", "georef/",
                "georef/map.e57.tmp", "georef/a/b", "../georef/map.laz"):  # fmt: skip
        with pytest.raises(KeyError):
            store.product("a", bad)
