"""Loading and validating the marketplace field-mapping CSV: every error names its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.rules.field_mapping import (
    CSV_COLUMNS,
    DEFAULT_MAPPING_PATH,
    MARKETPLACE_CONTRACT,
    TRANSFORMS,
    FieldMappingError,
    FieldRule,
    TargetSpec,
    load_field_mapping,
    parse_field_mapping,
)

HEADER = ",".join(CSV_COLUMNS)
ROWS = [
    "hris,employee_id,memberId,string,identity,yes,HRIS employee number,one,retain 7 years (HR record)",
    "xapi,actor.mbox,email,string,lowercase_email,yes,,one,retain while member + 1 year",
    "lrs,competency.code,competencyCode,string,identity,yes,,one,retain 7 years (HR record)",
    "lrs,competency.level,level,integer,to_int,yes,,one,retain 7 years (HR record)",
    "xapi,$,learningCompleted.completed,boolean,bool_completed,yes,,one,retain 7 years (HR record)",
    "xapi,timestamp,learningCompleted.date,date,iso_date,yes,,one,retain 7 years (HR record)",
    "xapi,result.score,score,number,normalize_score_0_100,no,,one,retain 7 years (HR record)",
    "lrs,competency.evidence,evidence,array,identity,yes,,many,retain 7 years (HR record)",
]
BADGES = "xapi,context.extensions[https://x.org/badge],badges,array,list_of_strings,no,,many,retain 2 years"


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def problems_of(text: str) -> list[str]:
    with pytest.raises(FieldMappingError) as error:
        parse_field_mapping(text, origin="mapping.csv")
    return error.value.problems


def replace_row(index: int, row: str) -> str:
    """The minimal valid CSV with ROWS[index] (on line index + 2) replaced."""
    rows = list(ROWS)
    rows[index] = row
    return csv_text(*rows)


def test_minimal_valid_mapping_loads() -> None:
    mapping = parse_field_mapping(csv_text(*ROWS, BADGES))
    assert [rule.target_field for rule in mapping.rules][-1] == "badges"
    assert mapping.rules[0] == FieldRule(
        line=2,
        source_system="hris",
        source_field="employee_id",
        target_field="memberId",
        data_type="string",
        transform="identity",
        required=True,
        notes="HRIS employee number",
        cardinality="one",
        retention_policy="retain 7 years (HR record)",
    )
    assert mapping.rules[0].source_key == "hris:employee_id"
    assert mapping.rules[6].required is False


def test_the_repository_template_is_valid_and_maps_every_contract_field() -> None:
    mapping = load_field_mapping()
    assert DEFAULT_MAPPING_PATH.parent.name == "marketplace"
    assert {rule.target_field for rule in mapping.rules} == set(MARKETPLACE_CONTRACT)
    assert all(rule.retention_policy and rule.notes for rule in mapping.rules)


def test_the_template_header_is_exactly_the_documented_columns() -> None:
    first_line = DEFAULT_MAPPING_PATH.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == (
        "source_system,source_field,target_field,data_type,transform,required,notes,cardinality,retention_policy"
    )


def test_the_template_uses_only_known_transforms() -> None:
    assert {rule.transform for rule in load_field_mapping().rules} <= set(TRANSFORMS)


def test_registry_has_the_named_transforms() -> None:
    assert set(TRANSFORMS) == {
        "identity",
        "lowercase_email",
        "normalize_score_0_100",
        "parse_iso8601",
        "iso_date",
        "bool_completed",
        "to_int",
        "list_of_strings",
    }


def test_load_reads_a_file_with_a_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "mapping.csv"
    path.write_bytes(("\ufeff" + csv_text(*ROWS)).replace("\n", "\r\n").encode("utf-8"))
    assert len(load_field_mapping(path).rules) == len(ROWS)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text(csv_text(*ROWS[1:]), encoding="utf-8")
    with pytest.raises(FieldMappingError, match=r"broken\.csv"):
        load_field_mapping(path)


def test_quoted_notes_may_hold_commas_quotes_and_newlines() -> None:
    row = 'hris,employee_id,memberId,string,identity,yes,"HRIS id, as ""string""\nsecond line",one,retain'
    mapping = parse_field_mapping(replace_row(0, row) + BADGES + "\n")
    assert mapping.rules[0].notes == 'HRIS id, as "string"\nsecond line'
    assert mapping.rules[-1].line == 11  # the quoted newline moves the following rows down


def test_unknown_target_also_leaves_the_contract_field_unmapped() -> None:
    problems = problems_of(replace_row(0, "hris,employee_id,memberID,string,identity,yes,,one,retain"))
    assert problems[1] == "mapping.csv, column target_field: no row for required target(s) memberId"


def test_blank_lines_are_skipped_and_line_numbers_stay_true() -> None:
    text = csv_text(ROWS[0], "", ",,,,,,,,", *ROWS[1:], "hris,x,nope,string,identity,no,,one,retain")
    assert problems_of(text) == [
        "mapping.csv line 12, column target_field: 'nope' unknown target (known: "
        + ", ".join(MARKETPLACE_CONTRACT)
        + ")"
    ]


def test_cells_are_stripped() -> None:
    row = " hris , employee_id , memberId , string , identity , yes , , one , retain 7 years "
    assert parse_field_mapping(replace_row(0, row)).rules[0].source_field == "employee_id"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "the file is empty"),
        (HEADER.replace("target_field", "target"), "column 3 is 'target' where 'target_field' is expected"),
        (HEADER.replace("notes,cardinality", "cardinality,notes"), "column 7 is 'cardinality'"),
        (HEADER.rsplit(",", 1)[0], "found 8 columns, expected 9"),
        (HEADER + ",owner", "found 10 columns, expected 9"),
        (HEADER.upper(), "column 1 is 'SOURCE_SYSTEM'"),
    ],
)
def test_header_must_be_exact(header: str, expected: str) -> None:
    text = csv_text(*ROWS, header=header) if header else ""
    [problem] = problems_of(text)
    assert problem.startswith("mapping.csv line 1: header must be exactly " + HEADER)
    assert expected in problem


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("HRIS,employee_id,memberId,string,identity,yes,,one,retain", "source_system", "lower-case name"),
        ("hris,,memberId,string,identity,yes,,one,retain", "source_field", "malformed path"),
        ("hris,a..b,memberId,string,identity,yes,,one,retain", "source_field", "malformed path"),
        ("hris,employee_id,memberID,string,identity,yes,,one,retain", "target_field", "unknown target"),
        ("hris,employee_id,memberId,text,identity,yes,,one,retain", "data_type", "must be one of"),
        ("hris,employee_id,memberId,integer,identity,yes,,one,retain", "data_type", "memberId is string"),
        ("hris,employee_id,memberId,string,lowercase,yes,,one,retain", "transform", "unknown transform"),
        ("hris,employee_id,memberId,string,to_int,yes,,one,retain", "transform", "to_int gives integer"),
        ("hris,employee_id,memberId,string,identity,Yes,,one,retain", "required", "yes or no"),
        ("hris,employee_id,memberId,string,identity,true,,one,retain", "required", "yes or no"),
        ("hris,employee_id,memberId,string,identity,no,,one,retain", "required", "required by the contract"),
        ("hris,employee_id,memberId,string,identity,yes,,single,retain", "cardinality", "one or many"),
        (
            "hris,employee_id,memberId,string,identity,yes,,many,retain",
            "cardinality",
            "many for data_type array",
        ),
        ("hris,employee_id,memberId,string,identity,yes,,one,", "retention_policy", "how long"),
    ],
)
def test_invalid_cells_are_reported_with_line_and_column(row: str, column: str, message: str) -> None:
    problem = problems_of(replace_row(0, row))[0]
    assert problem.startswith(f"mapping.csv line 2, column {column}: ")
    assert message in problem


def test_array_target_with_cardinality_one_is_rejected() -> None:
    row = "lrs,competency.evidence,evidence,array,identity,yes,,one,retain"
    [problem] = problems_of(replace_row(7, row))
    assert problem.startswith("mapping.csv line 9, column cardinality:")


def test_duplicate_target_names_both_lines() -> None:
    duplicate = "hris,work_email,email,string,lowercase_email,yes,,one,retain"
    [problem] = problems_of(csv_text(*ROWS, duplicate))
    assert problem == "mapping.csv line 10, column target_field: 'email' already mapped on line 3"


def test_missing_required_contract_targets_are_listed() -> None:
    [problem] = problems_of(csv_text(ROWS[0], *ROWS[2:6]))
    assert problem == "mapping.csv, column target_field: no row for required target(s) score, evidence"


def test_optional_targets_may_be_left_out() -> None:
    mapping = parse_field_mapping(csv_text(*ROWS))
    assert "badges" not in {rule.target_field for rule in mapping.rules}


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("hris,employee_id,memberId,string,identity,yes,,one", 8),
        ("hris,employee_id,memberId,string,identity,yes,a note, with a comma,one,retain", 10),
        ("just some text", 1),
    ],
)
def test_rows_with_the_wrong_number_of_fields_are_reported(line: str, found: int) -> None:
    problems = problems_of(csv_text(*ROWS, line))
    assert problems == [f"mapping.csv line 10: expected 9 fields, found {found}"]


def test_unterminated_quote_is_reported_as_malformed_csv() -> None:
    text = csv_text(*ROWS, 'hris,x,badges,array,list_of_strings,no,"unterminated,many,retain', "", "")
    problems = problems_of(text)
    assert problems == ["mapping.csv line 10: malformed CSV (unexpected end of data)"]


def test_every_problem_is_reported_at_once() -> None:
    text = csv_text(
        "hris,employee_id,memberId,string,identity,maybe,,one,",
        *ROWS[1:],
        "xapi,x,badges,array,list_of_strings,no,,one,retain",
    )
    problems = problems_of(text)
    assert problems == [
        "mapping.csv line 2, column required: 'maybe' must be yes or no",
        "mapping.csv line 2, column retention_policy: '' must say how long the value is kept",
        "mapping.csv line 10, column cardinality: 'one' must be many for data_type array, one otherwise",
    ]
    assert str(FieldMappingError(problems)).splitlines()[1:] == problems


def test_a_custom_contract_can_be_validated_against() -> None:
    contract = {"id": TargetSpec("string", True), "tags": TargetSpec("array", False)}
    text = csv_text("src,key,id,string,identity,yes,,one,retain 1 year")
    mapping = parse_field_mapping(text, contract=contract)
    assert mapping.apply({"src:key": "abc"}) == {"id": "abc"}
