#!/usr/bin/env python3
"""Checks schemas/: every schema is valid JSON Schema 2020-12, every golden example validates and
every counter-example (examples/<schema>/invalid/) is rejected, and what the decoder really
prints for the recorded node responses validates against block.v1.

    schemas_test.py --schemas DIR --decoder BIN --fixtures DIR
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import unittest

from jsonschema import Draft202012Validator

ARGS = None


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def schema_names():
    names = []
    for path in sorted(glob.glob(os.path.join(ARGS.schemas, "*.schema.json"))):
        name = os.path.basename(path)[: -len(".schema.json")]
        if name != "defs":
            names.append(name)
    return names


def validator_for(name):
    """A validator for schemas/<name>.schema.json that resolves its references to defs.schema.json."""
    schemas = {}
    for path in glob.glob(os.path.join(ARGS.schemas, "*.schema.json")):
        document = load(path)
        schemas[document["$id"]] = document
    schema = load(os.path.join(ARGS.schemas, name + ".schema.json"))
    try:
        from referencing import Registry, Resource  # jsonschema >= 4.18

        registry = Registry().with_resources(
            (uri, Resource.from_contents(document)) for uri, document in schemas.items()
        )
        return Draft202012Validator(schema, registry=registry)
    except ImportError:  # Debian 12's jsonschema 4.10
        from jsonschema import RefResolver

        return Draft202012Validator(schema, resolver=RefResolver.from_schema(schema, store=schemas))


def describe(errors):
    return "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors)


class SchemaFiles(unittest.TestCase):
    def test_each_schema_is_valid_2020_12_and_named_after_its_file(self):
        for path in sorted(glob.glob(os.path.join(ARGS.schemas, "*.schema.json"))):
            with self.subTest(path=path):
                schema = load(path)
                Draft202012Validator.check_schema(schema)
                self.assertEqual("https://json-schema.org/draft/2020-12/schema", schema["$schema"])
                self.assertTrue(schema["$id"].endswith("/" + os.path.basename(path)))

    def test_the_catalogue_has_a_schema_for_every_topic_value(self):
        expected = {"block.v1", "metric.v1", "alert.v1", "dlq.headers.v1", "stats.points.v1",
                    "stats.daily.v1", "stats.hourly.v1", "stats.candle.v1", "stats.witness.v1",
                    "stats.parity.v1"}
        self.assertEqual(expected, set(schema_names()))


class GoldenExamples(unittest.TestCase):
    def test_every_example_validates_and_names_its_schema(self):
        for name in schema_names():
            examples = sorted(glob.glob(os.path.join(ARGS.schemas, "examples", name, "*.json")))
            self.assertTrue(examples, f"{name} has no golden example")
            validator = validator_for(name)
            for path in examples:
                with self.subTest(example=path):
                    document = load(path)
                    errors = list(validator.iter_errors(document))
                    self.assertEqual([], errors, describe(errors))
                    if name.startswith("dlq.headers"):
                        continue  # headers, not a value: no schema field
                    self.assertEqual(name, document["schema"])

    def test_every_counter_example_is_rejected(self):
        for name in schema_names():
            counter_examples = sorted(
                glob.glob(os.path.join(ARGS.schemas, "examples", name, "invalid", "*.json")))
            self.assertTrue(counter_examples, f"{name} has no counter-example")
            validator = validator_for(name)
            for path in counter_examples:
                with self.subTest(counter_example=path):
                    self.assertFalse(validator.is_valid(load(path)), f"{path} was accepted")


class DecoderOutput(unittest.TestCase):
    def test_what_the_decoder_prints_for_recorded_blocks_is_block_v1(self):
        validator = validator_for("block.v1")
        decoded = 0
        for path in sorted(glob.glob(os.path.join(ARGS.fixtures, "*.json"))):
            document = load(path)
            holds_blocks = "blockID" in document or bool(document.get("block"))
            if not holds_blocks:
                continue  # error bodies and `{}`: the decoder's own tests cover them
            network = "shasta" if os.path.basename(path).startswith("shasta") else "mainnet"
            run = subprocess.run([ARGS.decoder, "--decode", path, "--network", network],
                                 capture_output=True, text=True, timeout=60)
            with self.subTest(fixture=path):
                self.assertEqual(0, run.returncode, run.stderr)
                lines = run.stdout.splitlines()
                self.assertEqual(len(document.get("block", [document])), len(lines))
                for line in lines:
                    value = json.loads(line)
                    errors = list(validator.iter_errors(value))
                    self.assertEqual([], errors, describe(errors))
                    decoded += 1
        self.assertGreater(decoded, 0, "no fixture held a block")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--schemas", required=True)
    parser.add_argument("--decoder", required=True)
    parser.add_argument("--fixtures", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
