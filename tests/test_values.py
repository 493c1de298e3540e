"""Number normalization of FIGURE and TARGET surfaces: every seed surface, the tricky cases, properties."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from models.values import Value, parse_number, parse_value

B, M = 10**9, 10**6
PLAN, SAME_PERIOD = "kế hoạch", "cùng kỳ"

# Every FIGURE and TARGET surface of the five bundled seed articles, read by hand.
SEED_VALUES: dict[str, Value] = {
    "6.325 ha": Value(6325, unit="ha"),
    "102% KH": Value(102, unit="%", base=PLAN),
    "12.094 tấn": Value(12094, unit="tấn"),
    "25,2% KH": Value(25.2, unit="%", base=PLAN),
    "1,6% CK": Value(1.6, unit="%", base=SAME_PERIOD),
    "898 tỷ đồng": Value(898 * B, unit="đồng"),
    "18,8% CK": Value(18.8, unit="%", base=SAME_PERIOD),
    "32 triệu USD": Value(32 * M, unit="USD"),
    "164,5 tỷ đồng": Value(164_500_000_000, unit="đồng"),
    "762,6 tỷ đồng": Value(762_600_000_000, unit="đồng"),
    "19,4%": Value(19.4, unit="%"),
    "3 sản phẩm": Value(3, unit="sản phẩm"),
    "4 sản phẩm": Value(4, unit="sản phẩm"),
    "87,46%": Value(87.46, unit="%"),
    "27 chỉ tiêu": Value(27, unit="chỉ tiêu"),
    "2 chương trình trọng tâm": Value(2, unit="chương trình trọng tâm"),
    "3 khâu đột phá": Value(3, unit="khâu đột phá"),
    "tốc độ tăng trưởng giá trị sản xuất 12% trở lên": Value(
        12, unit="%", qualifier="≥", indicator="tốc độ tăng trưởng giá trị sản xuất"
    ),
    "thu nhập bình quân đầu người đạt 69 triệu đồng/năm trở lên": Value(
        69 * M, unit="đồng/năm", qualifier="≥", indicator="thu nhập bình quân đầu người"
    ),
    "1 xã NTM kiểu mẫu": Value(1, unit="xã NTM kiểu mẫu"),
    "2 xã NTM nâng cao": Value(2, unit="xã NTM nâng cao"),
    "6 sản phẩm OCOP": Value(6, unit="sản phẩm OCOP"),
    "12 trường học đạt chuẩn quốc gia": Value(12, unit="trường học đạt chuẩn quốc gia"),
    "100% xã, thị trấn đạt chuẩn về an ninh - trật tự": Value(
        100, unit="%", indicator="xã, thị trấn đạt chuẩn về an ninh - trật tự"
    ),
    "100% dân số nông thôn được dùng nước hợp vệ sinh": Value(
        100, unit="%", indicator="dân số nông thôn được dùng nước hợp vệ sinh"
    ),
    "8 nhiệm vụ, giải pháp": Value(8, unit="nhiệm vụ, giải pháp"),
    "3 tập thể": Value(3, unit="tập thể"),
    "8 tổ chức cơ sở đảng": Value(8, unit="tổ chức cơ sở đảng"),
    "36 chi bộ đảng": Value(36, unit="chi bộ đảng"),
    "56 đảng viên": Value(56, unit="đảng viên"),
    "8 tập thể": Value(8, unit="tập thể"),
    "26 cá nhân": Value(26, unit="cá nhân"),
    "19 tập thể": Value(19, unit="tập thể"),
    "67 cá nhân": Value(67, unit="cá nhân"),
    "58,67 tạ/ha": Value(58.67, unit="tạ/ha"),
    "hơn 2.200 ha": Value(2200, unit="ha", qualifier=">"),
    "150 tỷ đồng": Value(150 * B, unit="đồng"),
    "75% kế hoạch": Value(75, unit="%", base=PLAN),
    "50% kế hoạch trở lên": Value(50, unit="%", qualifier="≥", base=PLAN),
    "732,587 tỷ đồng": Value(732_587_000_000, unit="đồng"),
    "1.351 mốc": Value(1351, unit="mốc"),
    "19,43/19,43km": Value(19.43, total=19.43, unit="km"),
    "234 hộ": Value(234, unit="hộ"),
    "5 khu TĐC": Value(5, unit="khu TĐC"),
    "12 nhóm giải pháp": Value(12, unit="nhóm giải pháp"),
    "02 thôn": Value(2, unit="thôn"),
    "42 thôn": Value(42, unit="thôn"),
    "37,2%": Value(37.2, unit="%"),
    "351,05 tỷ đồng": Value(351_050_000_000, unit="đồng"),
    "334,05 tỷ đồng": Value(334_050_000_000, unit="đồng"),
    "19,2%": Value(19.2, unit="%"),
    "07 doanh nghiệp": Value(7, unit="doanh nghiệp"),
    "54 doanh nghiệp": Value(54, unit="doanh nghiệp"),
    "56,25% kế hoạch": Value(56.25, unit="%", base=PLAN),
    "64,3% kế hoạch": Value(64.3, unit="%", base=PLAN),
    "65 tỷ đồng": Value(65 * B, unit="đồng"),
    "253 tỷ đồng": Value(253 * B, unit="đồng"),
    "38,18% dự toán": Value(38.18, unit="%", base="dự toán"),
    "75 năm": Value(75, unit="năm"),
    "16,6%": Value(16.6, unit="%"),
    "5-12 tuổi": Value(5, upper=12, unit="tuổi"),
}


def _seed_surfaces() -> list[tuple[str, str]]:
    found = []
    for doc in read_documents(BUNDLED_GOLD_FILE):
        found += [(doc.text[s.start:s.end], s.label) for s in doc.spans if s.label in ("FIGURE", "TARGET")]
    return found


def test_the_table_covers_every_seed_surface() -> None:
    assert {surface for surface, _ in _seed_surfaces()} == set(SEED_VALUES)


@pytest.mark.parametrize("surface,label", sorted(set(_seed_surfaces())))
def test_every_seed_surface(surface: str, label: str) -> None:
    expected = SEED_VALUES[surface]
    if label == "FIGURE":
        expected = Value(**(expected.to_dict() | {"indicator": None}))
    assert parse_value(surface, label) == expected


@pytest.mark.parametrize(
    "surface,label,expected",
    [
        ("1.351", "FIGURE", Value(1351)),
        ("1,5", "FIGURE", Value(1.5)),
        ("1,5 triệu", "FIGURE", Value(1_500_000)),
        ("1,5 triệu tỷ đồng", "FIGURE", Value(1_500_000 * B, unit="đồng")),
        ("102% KH", "FIGURE", Value(102, unit="%", base=PLAN)),
        ("50% trở lên", "FIGURE", Value(50, unit="%", qualifier="≥")),
        ("8,3-8,5%", "TARGET", Value(8.3, upper=8.5, unit="%")),
        ("tốc độ tăng trưởng GRDP đạt 8,3% - 8,5%", "TARGET",
         Value(8.3, upper=8.5, unit="%", indicator="tốc độ tăng trưởng GRDP")),
        ("150-300 triệu đồng/ha/năm", "FIGURE", Value(150 * M, upper=300 * M, unit="đồng/ha/năm")),
        ("5.000 người đến 8.000 người", "FIGURE", Value(5000, upper=8000, unit="người")),
        ("từ 5 đến 10 năm", "FIGURE", Value(5, upper=10, unit="năm")),
        ("58/79 phiếu", "FIGURE", Value(58, total=79, unit="phiếu")),
        ("gần 3%", "FIGURE", Value(3, unit="%", qualifier="≈")),
        ("khoảng 120 lô đất", "FIGURE", Value(120, unit="lô đất", qualifier="≈")),
        ("trên 12.000 người", "FIGURE", Value(12000, unit="người", qualifier=">")),
        ("ít nhất 150.000 người", "FIGURE", Value(150000, unit="người", qualifier="≥")),
        ("tối thiểu 60% chỉ tiêu", "FIGURE", Value(60, unit="%", qualifier="≥")),
        ("tối đa 2.000 m2", "FIGURE", Value(2000, unit="m2", qualifier="≤")),
        ("dưới 2,5 tấn", "FIGURE", Value(2.5, unit="tấn", qualifier="<")),
        ("2,4 triệu đồng / tháng", "FIGURE", Value(2_400_000, unit="đồng/tháng")),
        ("hơn một triệu người", "FIGURE", Value(1_000_000, unit="người", qualifier=">")),
        ("hai xã", "FIGURE", Value(2, unit="xã")),
        ("1.234,5 tấn", "FIGURE", Value(1234.5, unit="tấn")),
        ("kim ngạch xuất khẩu năm 2020 đạt 1,25 tỷ USD", "TARGET",
         Value(1_250_000_000, unit="USD", indicator="kim ngạch xuất khẩu năm 2020")),
        ("ít nhất 30% học sinh tốt nghiệp THPT", "TARGET",
         Value(30, unit="%", qualifier="≥", indicator="học sinh tốt nghiệp THPT")),
        ("phấn đấu đạt 5.000 tỷ đồng", "TARGET", Value(5000 * B, unit="đồng")),
        ("quý I-2023", "FIGURE", Value(None)),
        ("tháng 9/2023", "FIGURE", Value(None)),
        ("giai đoạn 2021-2025", "FIGURE", Value(None)),
        ("Nghị quyết số 10-NQ/TU", "FIGURE", Value(None)),
        ("lần thứ 15", "FIGURE", Value(None)),
        ("19h", "FIGURE", Value(None)),
        ("7h30", "FIGURE", Value(None)),
        ("105ha", "FIGURE", Value(105, unit="ha")),
        ("các xã", "TARGET", Value(None, indicator="các xã")),
    ],
)
def test_tricky_cases(surface: str, label: str, expected: Value) -> None:
    assert parse_value(surface, label) == expected


def test_decomposed_input_reads_the_same() -> None:
    surface = "thu nhập bình quân đầu người đạt 69 triệu đồng/năm trở lên"
    assert parse_value(unicodedata.normalize("NFD", surface), "TARGET") == parse_value(surface, "TARGET")


@pytest.mark.parametrize("bad", ["", "1..2", "a1", "1,"])
def test_parse_number_refuses_what_is_not_a_number(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_number(bad)


def _vietnamese(whole: int, decimals: str) -> str:
    grouped = f"{whole:,}".replace(",", ".")
    return f"{grouped},{decimals}" if decimals else grouped


@given(st.integers(min_value=0, max_value=10**15), st.text(alphabet="0123456789", max_size=4))
def test_vietnamese_writing_reads_back(whole: int, decimals: str) -> None:
    assert parse_number(_vietnamese(whole, decimals)) == Decimal(f"{whole}.{decimals}" if decimals else str(whole))
