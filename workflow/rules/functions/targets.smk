# What a result rests on (the named targets' inputs: ../targets.smk, and `all` in the Snakefile)
# and what `all` makes. Included last: the walks read every rule of the workflow.


def upstream_jobs(files):
    """(rule, wildcards) of every job `files` are computed from, upstream to the inputs that
    no rule makes (corpora, checkpoints, listening answers). Walks the rules as Snakemake's
    DAG does (producer of a file, its wildcards, the job's inputs), so it follows every
    rule's inputs as declared; tests/workflow/test_rests_on.py holds it to the planned jobs.
    The user's paths those jobs read are checked on the way (require_paths): every problem
    of every job is named at once."""
    jobs, seen = [], set()
    todo = [str(f) for f in files]
    _PATH_WALKS.append({})
    try:
        while todo:
            path = todo.pop()
            producer = next((r for r in workflow.rules if not r.norun and r.is_producer(path)), None)
            if producer is None:
                continue  # made by no rule: a user's file
            wc = producer.get_wildcards(path)
            job = (producer.name, tuple(sorted(wc.items())))
            if job in seen:
                continue
            seen.add(job)
            jobs.append((producer, wc))
            todo += [str(f) for f in producer.expand_input(wc)[0]]
    finally:
        problems = _PATH_WALKS.pop()
    if problems:
        order = list(S.path_problems.values())  # as the config lists them
        raise paths_error(sorted(problems, key=order.index), needed_by=" that the jobs of these results read")
    return jobs


def rests_on(files):
    """`files` and every output of every job they are computed from (upstream_jobs).

    The named targets (and `all`) take these as inputs. Snakemake itself rebuilds a missing
    file only when a job that needs to run asks for it: an intermediate lost after the tables
    were made (a forced re-run interrupted mid-job deletes its job's outputs) would otherwise
    leave `Nothing to be done` and a table resting on a file that is gone. Required here, a
    missing one is rebuilt, and everything after it."""
    return sorted({str(f) for rule, wc in upstream_jobs(files) for f in rule.expand_output(wc)[0]})


def benchmarks_of(files):
    """The benchmark file of every job `files` are computed from (rule cost_table)."""
    return sorted({str(r.expand_benchmark(wc)) for r, wc in upstream_jobs(files) if r.benchmark})


def run_results():
    """What `all` makes besides the report and the cost table: the configured sections'
    results and listening kits."""
    return (
        (rules.layerwise_summary.output if S.experiments else [])
        + (rules.table1_peft.output if S.peft_jobs else [])
        + (rules.table2_human_ua.output + rules.table3_confusions.output if S.has_human else [])
        + (rules.welch_tests.output if S.has_human else [])
        + (rules.table4_eder.output if S.has_sed else [])
        + kit_paths(paths.KIT_CONFIG)
        + kit_paths(paths.KIT_STIMULI)
        + (rules.demo_pretraining.output if S.demo.pretrained_models else [])
    )
