"""Rows of figures as text: the cell format every benchmark table shares, and the Markdown table."""
from twostream.data.tables import cell_text, markdown_table


def test_a_cell_writes_floats_to_three_significant_digits_and_structures_as_json():
    assert [cell_text(v) for v in (0.123456, 12.345, 123456.7, 3, "a", [1, 2], {"k": 1})] == \
        ["0.123", "12.3", "123457", "3", "a", "[1, 2]", '{"k": 1}']


def test_a_markdown_table_has_a_column_per_key_of_any_row_and_escapes_bars():
    table = markdown_table([{"method": "a|b", "points": 1.25}, {"method": "c", "interval": "[-1, +2]"}])
    assert table.splitlines() == ["| method | points | interval |", "| --- | --- | --- |",
                                  "| a\\|b | 1.25 |  |", "| c |  | [-1, +2] |"]
    assert markdown_table([{"x": 0.5}], cell=lambda value: f"{value:.3f}").splitlines()[-1] == "| 0.500 |"
