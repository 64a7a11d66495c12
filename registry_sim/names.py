"""Name pools for the synthetic city: Japanese surnames and given names, 外字 variants, foreign names.

All names are common words or common name readings; combined at random they describe nobody real.
Each pool entry is ``(written form, reading in hiragana)``; weights favour the first entries.
"""

from __future__ import annotations

from typing import Final

# Common surnames in Kagoshima (the first ones are the most frequent there).
SURNAMES: Final[tuple[tuple[str, str], ...]] = (
    ("中村", "なかむら"),
    ("山下", "やました"),
    ("田中", "たなか"),
    ("前田", "まえだ"),
    ("浜田", "はまだ"),
    ("山口", "やまぐち"),
    ("東", "ひがし"),
    ("川畑", "かわばた"),
    ("有村", "ありむら"),
    ("福永", "ふくなが"),
    ("池田", "いけだ"),
    ("松元", "まつもと"),
    ("上村", "うえむら"),
    ("永田", "ながた"),
    ("坂元", "さかもと"),
    ("今村", "いまむら"),
    ("西", "にし"),
    ("吉永", "よしなが"),
    ("福元", "ふくもと"),
    ("鮫島", "さめしま"),
    ("原田", "はらだ"),
    ("竹之内", "たけのうち"),
    ("宮原", "みやはら"),
    ("久保", "くぼ"),
    ("森", "もり"),
    ("山本", "やまもと"),
    ("中島", "なかしま"),
    ("松下", "まつした"),
    ("吉田", "よしだ"),
    ("田畑", "たばた"),
    ("下野", "しもの"),
    ("川原", "かわはら"),
    ("山田", "やまだ"),
    ("岩切", "いわきり"),
    ("児玉", "こだま"),
    ("野村", "のむら"),
    ("徳永", "とくなが"),
    ("西田", "にしだ"),
    ("小園", "こぞの"),
    ("木原", "きはら"),
    ("大迫", "おおさこ"),
    ("内田", "うちだ"),
    ("鶴田", "つるた"),
    ("上野", "うえの"),
    ("堀之内", "ほりのうち"),
    ("吉村", "よしむら"),
    ("岩下", "いわした"),
    ("松山", "まつやま"),
    ("井上", "いのうえ"),
    ("立石", "たていし"),
    ("柳田", "やなぎだ"),
    ("有馬", "ありま"),
    ("日高", "ひだか"),
    ("本田", "ほんだ"),
    ("平田", "ひらた"),
    ("村田", "むらた"),
    ("上原", "うえはら"),
    ("福留", "ふくどめ"),
    ("若松", "わかまつ"),
    ("宮崎", "みやざき"),
    ("渡辺", "わたなべ"),
    ("山崎", "やまさき"),
    ("高橋", "たかはし"),
    ("鈴木", "すずき"),
    ("佐藤", "さとう"),
    ("伊藤", "いとう"),
    ("小林", "こばやし"),
    ("加藤", "かとう"),
    ("木村", "きむら"),
    ("林", "はやし"),
    ("森山", "もりやま"),
    ("黒木", "くろき"),
    ("桑原", "くわはら"),
    ("肥後", "ひご"),
    ("四元", "よつもと"),
    ("橋口", "はしぐち"),
    ("瀬戸口", "せとぐち"),
    ("白石", "しらいし"),
    ("高田", "たかだ"),
    ("吉川", "よしかわ"),
    ("山之内", "やまのうち"),
    ("新田", "にった"),
    ("外山", "とやま"),
    ("迫田", "さこだ"),
)

# Surnames written with 外字 (variant kanji); the first four are beyond the BMP.
GAIJI_SURNAMES: Final[tuple[tuple[str, str], ...]] = (
    ("𠮷田", "よしだ"),
    ("𠮷村", "よしむら"),
    ("𠮷永", "よしなが"),
    ("𠮷川", "よしかわ"),
    ("𡈽屋", "つちや"),
    ("𦚰田", "わきた"),
    ("髙𣘺", "たかはし"),
    ("山𥔎", "やまさき"),
    ("髙橋", "たかはし"),
    ("髙田", "たかだ"),
    ("髙木", "たかぎ"),
    ("山﨑", "やまさき"),
    ("宮﨑", "みやざき"),
    ("渡邉", "わたなべ"),
    ("渡邊", "わたなべ"),
    ("栁田", "やなぎだ"),
    ("濵田", "はまだ"),
    ("德永", "とくなが"),
)

# Given names by sex and birth era: (born before 1960, 1960-1989, 1990 and later).
GIVEN_MALE: Final[tuple[tuple[tuple[str, str], ...], ...]] = (
    (
        ("清", "きよし"),
        ("正男", "まさお"),
        ("勇", "いさむ"),
        ("博", "ひろし"),
        ("茂", "しげる"),
        ("実", "みのる"),
        ("進", "すすむ"),
        ("昭", "あきら"),
        ("和夫", "かずお"),
        ("武", "たけし"),
        ("義雄", "よしお"),
        ("幸男", "ゆきお"),
        ("隆", "たかし"),
        ("勝", "まさる"),
        ("一郎", "いちろう"),
        ("修", "おさむ"),
    ),
    (
        ("誠", "まこと"),
        ("浩", "ひろし"),
        ("健一", "けんいち"),
        ("直樹", "なおき"),
        ("大輔", "だいすけ"),
        ("哲也", "てつや"),
        ("剛", "つよし"),
        ("和也", "かずや"),
        ("隆之", "たかゆき"),
        ("秀樹", "ひでき"),
        ("拓也", "たくや"),
        ("達也", "たつや"),
        ("健太", "けんた"),
        ("学", "まなぶ"),
        ("聡", "さとし"),
        ("洋平", "ようへい"),
    ),
    (
        ("翔太", "しょうた"),
        ("大翔", "ひろと"),
        ("蓮", "れん"),
        ("悠真", "ゆうま"),
        ("陽翔", "はると"),
        ("湊", "みなと"),
        ("颯太", "そうた"),
        ("大和", "やまと"),
        ("蒼", "あおい"),
        ("樹", "いつき"),
        ("悠斗", "ゆうと"),
        ("陸", "りく"),
        ("海斗", "かいと"),
        ("拓海", "たくみ"),
        ("翼", "つばさ"),
        ("陽向", "ひなた"),
    ),
)

GIVEN_FEMALE: Final[tuple[tuple[tuple[str, str], ...], ...]] = (
    (
        ("和子", "かずこ"),
        ("幸子", "さちこ"),
        ("節子", "せつこ"),
        ("洋子", "ようこ"),
        ("恵子", "けいこ"),
        ("京子", "きょうこ"),
        ("美代子", "みよこ"),
        ("久子", "ひさこ"),
        ("弘子", "ひろこ"),
        ("ハル", "はる"),
        ("キヨ", "きよ"),
        ("静子", "しずこ"),
        ("文子", "ふみこ"),
        ("千代子", "ちよこ"),
        ("道子", "みちこ"),
        ("トミ", "とみ"),
    ),
    (
        ("恵美", "えみ"),
        ("由美子", "ゆみこ"),
        ("真由美", "まゆみ"),
        ("裕子", "ゆうこ"),
        ("智子", "ともこ"),
        ("直美", "なおみ"),
        ("久美子", "くみこ"),
        ("明美", "あけみ"),
        ("美穂", "みほ"),
        ("陽子", "ようこ"),
        ("麻衣", "まい"),
        ("愛", "あい"),
        ("美咲", "みさき"),
        ("彩", "あや"),
        ("千尋", "ちひろ"),
        ("香織", "かおり"),
    ),
    (
        ("結衣", "ゆい"),
        ("陽菜", "ひな"),
        ("葵", "あおい"),
        ("凛", "りん"),
        ("美桜", "みお"),
        ("芽依", "めい"),
        ("結菜", "ゆいな"),
        ("莉子", "りこ"),
        ("紬", "つむぎ"),
        ("咲良", "さくら"),
        ("杏", "あん"),
        ("心春", "こはる"),
        ("花", "はな"),
        ("美羽", "みう"),
        ("七海", "ななみ"),
        ("彩花", "あやか"),
    ),
)

# Given names with 外字, by sex.
GAIJI_GIVEN_MALE: Final[tuple[tuple[str, str], ...]] = (
    ("髙志", "たかし"),
    ("𠮷男", "よしお"),
    ("𠮷郎", "きちろう"),
    ("髙明", "たかあき"),
)
GAIJI_GIVEN_FEMALE: Final[tuple[tuple[str, str], ...]] = (
    ("髙子", "たかこ"),
    ("𠮷子", "よしこ"),
    ("禮子", "れいこ"),
    ("德子", "のりこ"),
)

# Japanese-style 通称 surnames used by some 特別永住者.
TSUSHO_SURNAMES: Final[tuple[tuple[str, str], ...]] = (
    ("金田", "かねだ"),
    ("新井", "あらい"),
    ("金本", "かねもと"),
    ("松本", "まつもと"),
    ("安田", "やすだ"),
    ("木村", "きむら"),
)


def era_of(birth_year: int) -> int:
    """Index into the given-name pools for a birth year."""
    return 0 if birth_year < 1960 else 1 if birth_year < 1990 else 2


class Nationality:
    """One 国籍・地域 with its name pools and the 在留資格 its newcomers hold (weighted).

    Name entries are ``(alphabet, kanji or None, katakana)``. ``middle`` is a (male, female) middle name
    (Vietnamese VAN / THI); ``kanji`` means the name is registered in kanji, the alphabet name beside it.
    """

    __slots__ = ("families", "given_f", "given_m", "kanji", "middle", "name", "statuses")

    def __init__(
        self,
        name: str,
        families: tuple[tuple[str, str | None, str], ...],
        given_m: tuple[tuple[str, str | None, str], ...],
        given_f: tuple[tuple[str, str | None, str], ...],
        statuses: tuple[tuple[str, int], ...],
        middle: tuple[tuple[str, str], tuple[str, str]] | None = None,
        kanji: bool = False,
    ) -> None:
        self.name = name
        self.families = families
        self.given_m = given_m
        self.given_f = given_f
        self.statuses = statuses
        self.middle = middle
        self.kanji = kanji


# (nationality, weight among foreign residents)
NATIONALITIES: Final[tuple[tuple[Nationality, int], ...]] = (
    (
        Nationality(
            "ベトナム",
            (
                ("NGUYEN", None, "グエン"),
                ("TRAN", None, "チャン"),
                ("LE", None, "レー"),
                ("PHAM", None, "ファム"),
                ("HOANG", None, "ホアン"),
                ("VU", None, "ヴー"),
                ("DANG", None, "ダン"),
                ("BUI", None, "ブイ"),
                ("DO", None, "ドー"),
            ),
            (
                ("AN", None, "アン"),
                ("BINH", None, "ビン"),
                ("CUONG", None, "クオン"),
                ("DUC", None, "ドゥック"),
                ("HUNG", None, "フン"),
                ("MINH", None, "ミン"),
                ("NAM", None, "ナム"),
                ("TUAN", None, "トゥアン"),
            ),
            (
                ("LINH", None, "リン"),
                ("LAN", None, "ラン"),
                ("HOA", None, "ホア"),
                ("MAI", None, "マイ"),
                ("THAO", None, "タオ"),
                ("TRANG", None, "チャン"),
                ("HUONG", None, "フオン"),
                ("NGOC", None, "ゴック"),
            ),
            (("技能実習", 55), ("特定技能", 25), ("留学", 10), ("技術・人文知識・国際業務", 10)),
            middle=(("VAN", "ヴァン"), ("THI", "ティ")),
        ),
        34,
    ),
    (
        Nationality(
            "中国",
            (
                ("WANG", "王", "ワン"),
                ("LI", "李", "リー"),
                ("ZHANG", "張", "チャン"),
                ("LIU", "劉", "リュウ"),
                ("CHEN", "陳", "チェン"),
                ("YANG", "楊", "ヤン"),
                ("ZHAO", "趙", "チャオ"),
                ("HUANG", "黄", "ホアン"),
            ),
            (
                ("WEI", "偉", "ウェイ"),
                ("HAO", "浩", "ハオ"),
                ("LEI", "磊", "レイ"),
                ("XIAOMING", "小明", "シャオミン"),
                ("JUN", "軍", "ジュン"),
                ("TAO", "涛", "タオ"),
            ),
            (
                ("FANG", "芳", "ファン"),
                ("JING", "静", "ジン"),
                ("YAN", "燕", "イエン"),
                ("LI", "麗", "リー"),
                ("XIU", "秀", "シウ"),
                ("NA", "娜", "ナー"),
            ),
            (("留学", 30), ("技術・人文知識・国際業務", 25), ("永住者", 25), ("技能実習", 20)),
            kanji=True,
        ),
        15,
    ),
    (
        Nationality(
            "フィリピン",
            (
                ("SANTOS", None, "サントス"),
                ("REYES", None, "レイエス"),
                ("CRUZ", None, "クルス"),
                ("BAUTISTA", None, "バウティスタ"),
                ("GARCIA", None, "ガルシア"),
                ("MENDOZA", None, "メンドーサ"),
            ),
            (
                ("JOSE", None, "ホセ"),
                ("MARK", None, "マーク"),
                ("JOHN PAUL", None, "ジョン　ポール"),
                ("RAMON", None, "ラモン"),
                ("ARIEL", None, "アリエル"),
            ),
            (
                ("MARIA", None, "マリア"),
                ("ANGELICA", None, "アンジェリカ"),
                ("ROSALIE", None, "ロザリー"),
                ("JOY", None, "ジョイ"),
                ("CRISTINA", None, "クリスティーナ"),
            ),
            (("技能実習", 30), ("特定技能", 25), ("永住者", 25), ("定住者", 10), ("日本人の配偶者等", 10)),
        ),
        14,
    ),
    (
        Nationality(
            "韓国",
            (
                ("KIM", "金", "キム"),
                ("LEE", "李", "イ"),
                ("PARK", "朴", "パク"),
                ("CHOI", "崔", "チェ"),
                ("JUNG", "鄭", "チョン"),
                ("KANG", "姜", "カン"),
            ),
            (
                ("YOUNGSOO", "英洙", "ヨンス"),
                ("JIHOON", "志勲", "ジフン"),
                ("MINHO", "珉浩", "ミンホ"),
                ("SUNGMIN", "成敏", "ソンミン"),
                ("DONGHYUN", "東賢", "ドンヒョン"),
            ),
            (
                ("MINJI", "敏智", "ミンジ"),
                ("SEOYEON", "瑞妍", "ソヨン"),
                ("JIYOUNG", "知英", "ジヨン"),
                ("EUNJI", "恩智", "ウンジ"),
                ("HYEJIN", "恵珍", "ヘジン"),
            ),
            (("特別永住者", 45), ("永住者", 30), ("留学", 15), ("技術・人文知識・国際業務", 10)),
            kanji=True,
        ),
        9,
    ),
    (
        Nationality(
            "ネパール",
            (
                ("GURUNG", None, "グルン"),
                ("TAMANG", None, "タマン"),
                ("SHRESTHA", None, "シュレスタ"),
                ("RAI", None, "ライ"),
                ("MAGAR", None, "マガル"),
                ("THAPA", None, "タパ"),
            ),
            (
                ("RAM", None, "ラム"),
                ("BIKASH", None, "ビカス"),
                ("SURESH", None, "スレス"),
                ("ANIL", None, "アニル"),
            ),
            (
                ("SITA", None, "シタ"),
                ("ANJALI", None, "アンジャリ"),
                ("PUJA", None, "プジャ"),
                ("SABINA", None, "サビナ"),
            ),
            (("留学", 50), ("技能", 20), ("技術・人文知識・国際業務", 30)),
        ),
        8,
    ),
    (
        Nationality(
            "インドネシア",
            (
                ("SANTOSO", None, "サントソ"),
                ("SETIAWAN", None, "セティアワン"),
                ("WIJAYA", None, "ウィジャヤ"),
                ("SAPUTRA", None, "サプトラ"),
                ("LESTARI", None, "レスタリ"),
            ),
            (
                ("BUDI", None, "ブディ"),
                ("AGUS", None, "アグス"),
                ("RIZKY", None, "リズキ"),
                ("ADI", None, "アディ"),
            ),
            (
                ("SITI", None, "シティ"),
                ("DEWI", None, "デウィ"),
                ("PUTRI", None, "プトリ"),
                ("AYU", None, "アユ"),
            ),
            (("技能実習", 60), ("特定技能", 40)),
        ),
        7,
    ),
    (
        Nationality(
            "ミャンマー",
            (
                ("AUNG", None, "アウン"),
                ("MYA", None, "ミャ"),
                ("THIN", None, "ティン"),
                ("ZAW", None, "ゾー"),
                ("HLAING", None, "フライン"),
            ),
            (
                ("KYAW", None, "チョー"),
                ("MIN", None, "ミン"),
                ("HTET", None, "テッ"),
                ("NAING", None, "ナイン"),
            ),
            (("AYE", None, "エー"), ("MOE", None, "モー"), ("THIDA", None, "ティダ"), ("SU", None, "スー")),
            (("技能実習", 50), ("特定技能", 50)),
        ),
        5,
    ),
    (
        Nationality(
            "アメリカ合衆国",
            (
                ("SMITH", None, "スミス"),
                ("JOHNSON", None, "ジョンソン"),
                ("MILLER", None, "ミラー"),
                ("BROWN", None, "ブラウン"),
                ("DAVIS", None, "デイビス"),
            ),
            (("JOHN", None, "ジョン"), ("MICHAEL", None, "マイケル"), ("DAVID", None, "デイビッド")),
            (("EMILY", None, "エミリー"), ("SARAH", None, "サラ"), ("JESSICA", None, "ジェシカ")),
            (("教育", 50), ("技術・人文知識・国際業務", 30), ("永住者", 20)),
        ),
        3,
    ),
    (
        Nationality(
            "台湾",
            (
                ("CHEN", "陳", "チェン"),
                ("LIN", "林", "リン"),
                ("HUANG", "黃", "ホアン"),
                ("CHANG", "張", "チャン"),
            ),
            (
                ("CHIHAO", "志豪", "チーハオ"),
                ("CHENGEN", "承恩", "チェンエン"),
                ("CHIAWEI", "家瑋", "チアウェイ"),
            ),
            (
                ("YICHUN", "怡君", "イーチュン"),
                ("YAHUI", "雅惠", "ヤーフイ"),
                ("SHUFEN", "淑芬", "シューフェン"),
            ),
            (("留学", 50), ("永住者", 50)),
            kanji=True,
        ),
        2,
    ),
    (
        Nationality(
            "タイ",
            (
                ("SRISUK", None, "シースック"),
                ("WONGSA", None, "ウォンサ"),
                ("CHAIYAPORN", None, "チャイヤポーン"),
            ),
            (("SOMCHAI", None, "ソムチャイ"), ("ANAN", None, "アナン")),
            (("SUDA", None, "スダー"), ("NARISA", None, "ナリサ"), ("PORNTIP", None, "ポーンティップ")),
            (("技能実習", 60), ("日本人の配偶者等", 40)),
        ),
        2,
    ),
)

# 在留資格 -> (possible 在留期間, (youngest, oldest) age of a newcomer with it). 永住者 has no 在留期間.
STATUS_TERMS: Final[dict[str, tuple[tuple[str, ...], tuple[int, int]]]] = {
    "技能実習": (("1年", "2年"), (19, 34)),
    "特定技能": (("1年",), (20, 38)),
    "留学": (("1年3月", "2年3月", "4年3月"), (18, 29)),
    "技術・人文知識・国際業務": (("1年", "3年", "5年"), (23, 45)),
    "技能": (("1年", "3年", "5年"), (25, 50)),
    "教育": (("1年", "3年"), (23, 45)),
    "日本人の配偶者等": (("1年", "3年", "5年"), (22, 50)),
    "定住者": (("1年", "3年", "5年"), (20, 60)),
    "家族滞在": (("1年", "3年", "5年"), (0, 60)),
    "永住者の配偶者等": (("1年", "3年", "5年"), (0, 60)),
    "永住者": ((), (30, 80)),
    "特別永住者": ((), (20, 95)),
}

# What the spouse and children of a foreign householder hold, by the householder's status.
DEPENDANT_STATUS: Final[dict[str, str]] = {
    "技術・人文知識・国際業務": "家族滞在",
    "技能": "家族滞在",
    "教育": "家族滞在",
    "留学": "家族滞在",
    "永住者": "永住者の配偶者等",
    "定住者": "定住者",
    "特別永住者": "特別永住者",
    "日本人の配偶者等": "定住者",
}
