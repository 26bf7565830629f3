"""Every name and type the contract promises is in the schema, exactly as written there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    parse,
    print_ast,
)
from graphql.language import (
    EnumTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    ObjectTypeDefinitionNode,
)

from app.server.graphql import build_schema
from app.settings import Settings

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "CONTRACT.md"


def _contract_definitions() -> list:
    if not CONTRACT.exists():
        pytest.skip(f"{CONTRACT} is not beside this checkout")
    blocks = re.findall(r"```graphql\n(.*?)```", CONTRACT.read_text(), re.S)
    return [d for block in blocks for d in parse(block).definitions]


SCHEMA = build_schema(Settings()).as_str()


def _ours():
    from graphql import build_schema as build_sdl

    return build_sdl(SCHEMA)


def test_every_contract_type_field_and_argument_is_in_the_schema() -> None:
    ours = _ours()
    missing: list[str] = []
    for definition in _contract_definitions():
        name = definition.name.value
        mine = ours.get_type(name)
        if isinstance(definition, EnumTypeDefinitionNode):
            assert isinstance(mine, GraphQLEnumType), name
            for value in definition.values:
                if value.name.value not in mine.values:
                    missing.append(f"{name}.{value.name.value}")
            continue
        if isinstance(definition, ObjectTypeDefinitionNode | InputObjectTypeDefinitionNode):
            assert isinstance(mine, GraphQLObjectType | GraphQLInputObjectType), name
            for field in definition.fields:
                fname = field.name.value
                theirs_type = print_ast(field.type)
                got = mine.fields.get(fname)
                if got is None:
                    missing.append(f"{name}.{fname}")
                    continue
                if str(got.type) != theirs_type:
                    missing.append(f"{name}.{fname}: {got.type} != {theirs_type}")
                for arg in getattr(field, "arguments", None) or []:
                    aname = arg.name.value
                    mine_arg = got.args.get(aname)
                    if mine_arg is None:
                        missing.append(f"{name}.{fname}({aname})")
                        continue
                    if str(mine_arg.type) != print_ast(arg.type):
                        missing.append(f"{name}.{fname}({aname}): {mine_arg.type} != "
                                       f"{print_ast(arg.type)}")
                    if arg.default_value is not None:
                        want = print_ast(arg.default_value)
                        have = mine_arg.ast_node and mine_arg.ast_node.default_value
                        if have is None or print_ast(have) != want:
                            missing.append(f"{name}.{fname}({aname}) default != {want}")
    assert missing == [], "\n".join(missing)


def test_connections_have_nodes_and_page_info() -> None:
    ours = _ours()
    for name in ("CustomerConnection", "SessionConnection", "EventConnection",
                 "TriggerConnection"):
        fields = ours.get_type(name).fields
        assert str(fields["pageInfo"].type) == "PageInfo!"
        assert str(fields["nodes"].type).endswith("!]!")
    page_info = ours.get_type("PageInfo").fields
    assert str(page_info["hasNextPage"].type) == "Boolean!"
    assert str(page_info["endCursor"].type) == "String"


def test_shop_settings_input_has_every_setting_optional() -> None:
    ours = _ours()
    settings = ours.get_type("ShopSettings").fields
    given = ours.get_type("ShopSettingsInput").fields
    for name in settings:
        assert name in given and not str(given[name].type).endswith("!"), name
