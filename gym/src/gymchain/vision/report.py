"""A video job's result as a report a trainer reads (Markdown, English or Portuguese). Pure Python: the HTTP
service renders it from the stored result."""

from __future__ import annotations

LABELS = {
    "en": {"title": "Video analysis", "people": "People counting and flow", "line": "Line", "in": "in",
           "out": "out", "flows": "Flows between areas", "from": "from area", "to": "to area", "people_n": "people",
           "peak": "Peak occupancy", "area": "area", "occupancy": "Occupancy over time (people per area)",
           "posture": "Posture feedback", "exercise": "Exercise", "reps": "Repetitions", "rep": "Rep",
           "ok": "good rep", "alerts": "Alerts", "none": "none", "duration": "Clip length", "s": "s",
           "recognised": "recognised by the classifier", "given": "given in the job", "model": "classifier",
           "rule": "rule", "summary": "Summary", "faults": "Faults by type", "no_people": "no line crossings",
           "frames": "frames analysed", "limits": "Measured by a camera model trained and checked on synthetic "
           "data: use it as a prompt to look, not as a verdict (see gym/docs/vision.md)."},
    "pt": {"title": "Análise de vídeo", "people": "Contagem e fluxo de pessoas", "line": "Linha", "in": "entrada",
           "out": "saída", "flows": "Fluxos entre áreas", "from": "da área", "to": "para a área",
           "people_n": "pessoas", "peak": "Ocupação máxima", "area": "área",
           "occupancy": "Ocupação ao longo do tempo (pessoas por área)", "posture": "Feedback de postura",
           "exercise": "Exercício", "reps": "Repetições", "rep": "Rep.", "ok": "repetição correta",
           "alerts": "Alertas", "none": "nenhum", "duration": "Duração do clipe", "s": "s",
           "recognised": "reconhecido pelo classificador", "given": "informado no pedido", "model": "classificador",
           "rule": "regra", "summary": "Resumo", "faults": "Falhas por tipo", "no_people": "nenhuma travessia",
           "frames": "quadros analisados", "limits": "Medido por um modelo de câmera treinado e verificado com dados "
           "sintéticos: use como um convite a observar, não como veredito (veja gym/docs/vision.md)."},
}
EXERCISE_NAMES = {"en": {"squat": "squat", "pushup": "push-up", "deadlift": "deadlift / hip hinge",
                         "press": "shoulder press"},
                  "pt": {"squat": "agachamento", "pushup": "flexão de braço", "deadlift": "levantamento terra",
                         "press": "desenvolvimento de ombros"}}


def render(job: dict, lang: str = "en") -> str:
    """Markdown report of a job document (``result`` as the worker stored it)."""
    t = LABELS[lang]
    result = job.get("result") or {}
    lines = [f"# {t['title']} {job['job_id'][:8]}", "",
             f"unit {job.get('unit_id')} · {job.get('status')} · {job.get('created_at', '')[:19]}", ""]
    people = result.get("people")
    if people:
        lines += [f"## {t['people']}", "",
                  f"{t['duration']}: {people['duration_s']} {t['s']} ({people['frames']} {t['frames']})", ""]
        if people["lines"]:
            lines += [f"| {t['line']} | {t['in']} | {t['out']} |", "|---|---:|---:|"]
            lines += [f"| {name} | {c['in']} | {c['out']} |" for name, c in people["lines"].items()]
            lines.append("")
        flows = [f for f in people["flows"] if f["from_area_id"] is not None and f["to_area_id"] is not None]
        if flows:
            lines += [f"**{t['flows']}**", ""]
            lines += [f"- {t['from']} {f['from_area_id']} → {t['to']} {f['to_area_id']}: {t['people_n']} {f['people']}"
                      for f in flows]
            lines.append("")
        lines += [f"**{t['peak']}:** " + ", ".join(f"{t['area']} {a}: {n}" for a, n in people["peak_occupancy"].items()),
                  ""]
        if people["occupancy"]:
            areas = list(people["occupancy"][0]["areas"])
            lines += [f"**{t['occupancy']}**", "", "| t (s) | " + " | ".join(f"{t['area']} {a}" for a in areas) + " |",
                      "|---:|" + "---:|" * len(areas)]
            lines += [f"| {s['t_s']} | " + " | ".join(str(s["areas"][a]) for a in areas) + " |"
                      for s in people["occupancy"][:40]]
            lines.append("")
    posture = result.get("posture")
    if posture:
        lines += [f"## {t['posture']}", ""]
        exercise = posture.get("exercise")
        if exercise:
            how = t["given"] if posture.get("exercise_given") else t["recognised"]
            lines.append(f"- **{t['exercise']}:** {EXERCISE_NAMES[lang].get(exercise, exercise)} ({how})")
        if "rep_count" in posture:
            lines.append(f"- **{t['reps']}:** {posture['rep_count']}")
        if posture.get("note"):
            lines.append(f"_{posture['note']}_")
        lines.append("")
        faults: dict[str, int] = {}
        for rep in posture.get("reps", []):
            if rep["feedback"]:
                text = " ".join(f[lang] for f in rep["feedback"])
                for f in rep["feedback"]:
                    faults[f["error"]] = faults.get(f["error"], 0) + 1
            else:
                text = f"✓ {t['ok']}"
            lines.append(f"- {t['rep']} {rep['rep']} ({rep['start_s']}–{rep['end_s']} {t['s']}): {text}")
        if faults:
            lines += ["", f"**{t['faults']}:** " + ", ".join(f"{k} × {v}" for k, v in sorted(faults.items()))]
        lines += ["", f"### {t['alerts']}", ""]
        alerts = posture.get("alerts", [])
        if not alerts:
            lines.append(f"- {t['none']}")
        for a in alerts:
            source = t["model"] if a["source"] == "model" else t["rule"]
            lines.append(f"- **{a['severity']}** {a['at_s']} {t['s']}: {a[lang]} ({source}: {a['rule']})")
        lines.append("")
    if job.get("error"):
        lines += [f"**error:** {job['error']}", ""]
    lines += [f"_{t['limits']}_", ""]
    return "\n".join(lines)
