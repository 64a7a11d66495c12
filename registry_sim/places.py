"""Places for the synthetic city: Kagoshima City's real town names, other municipalities, building names.

Town names are real; house numbers, buildings and rooms are made up.
"""

from __future__ import annotations

from typing import Final

CITY: Final = "鹿児島市"
PREFECTURE: Final = "鹿児島県"

# (town, number of 丁目 (0: none), numbering: "go" = 住居表示 N番M号, "banchi" = 地番 N番地M, weight)
TOWNS: Final[tuple[tuple[str, int, str, int], ...]] = (
    ("山下町", 0, "go", 2),
    ("東千石町", 0, "go", 2),
    ("西千石町", 0, "go", 2),
    ("千日町", 0, "go", 1),
    ("中央町", 0, "go", 3),
    ("加治屋町", 0, "go", 2),
    ("上之園町", 0, "go", 3),
    ("高麗町", 0, "go", 3),
    ("新屋敷町", 0, "go", 2),
    ("城山町", 0, "go", 1),
    ("荒田", 2, "go", 4),
    ("下荒田", 4, "go", 5),
    ("郡元", 3, "go", 5),
    ("鴨池", 2, "go", 4),
    ("鴨池新町", 0, "go", 2),
    ("宇宿", 9, "go", 9),
    ("紫原", 7, "go", 8),
    ("田上", 8, "go", 8),
    ("武", 3, "go", 5),
    ("西田", 3, "go", 4),
    ("草牟田", 2, "go", 3),
    ("城西", 3, "go", 4),
    ("永吉", 3, "go", 3),
    ("原良", 7, "go", 6),
    ("西陵", 8, "go", 6),
    ("伊敷", 8, "go", 6),
    ("伊敷台", 7, "go", 5),
    ("玉里団地", 3, "go", 3),
    ("坂元町", 0, "banchi", 3),
    ("星ケ峯", 6, "go", 5),
    ("皇徳寺台", 5, "go", 5),
    ("谷山中央", 8, "go", 8),
    ("東谷山", 7, "go", 5),
    ("和田", 3, "go", 4),
    ("坂之上", 8, "go", 6),
    ("吉野町", 0, "banchi", 9),
    ("桜ケ丘", 8, "go", 5),
    ("武岡", 6, "go", 4),
    ("唐湊", 4, "go", 3),
    ("明和", 5, "go", 4),
    ("小野", 4, "go", 3),
    ("大明丘", 3, "go", 3),
    ("与次郎", 2, "go", 2),
    ("喜入町", 0, "banchi", 3),
    ("郡山町", 0, "banchi", 2),
    ("上福元町", 0, "banchi", 4),
    ("犬迫町", 0, "banchi", 1),
)

# Other municipalities with one town each, for 本籍, 前住所 and 転出予定先 outside the city.
OTHER_PLACES: Final[tuple[str, ...]] = (
    "鹿児島県霧島市国分中央",
    "鹿児島県薩摩川内市向田町",
    "鹿児島県鹿屋市北田町",
    "鹿児島県指宿市十町",
    "鹿児島県日置市伊集院町郡",
    "鹿児島県姶良市加治木町本町",
    "鹿児島県奄美市名瀬港町",
    "鹿児島県南さつま市加世田川畑",
    "鹿児島県出水市緑町",
    "鹿児島県枕崎市東本町",
    "鹿児島県いちき串木野市昭和通",
    "宮崎県宮崎市橘通東",
    "宮崎県都城市姫城町",
    "熊本県熊本市中央区手取本町",
    "福岡県福岡市博多区博多駅前",
    "大阪府大阪市北区梅田",
    "東京都世田谷区太子堂",
    "沖縄県那覇市泉崎",
    "長崎県長崎市桜町",
    "大分県大分市荷揚町",
    "愛知県名古屋市中区三の丸",
    "神奈川県横浜市中区日本大通",
    "兵庫県神戸市中央区加納町",
    "広島県広島市中区国泰寺町",
)

# How often a 本籍 or a former address lies in Kagoshima Prefecture's other towns rather than farther away:
# the first eleven OTHER_PLACES are in the prefecture.
PREFECTURE_PLACES: Final = 11

BUILDING_STEMS: Final[tuple[str, ...]] = (
    "桜島",
    "城山",
    "錦江",
    "南洲",
    "甲突",
    "天保山",
    "鴨池",
    "紫原",
    "田上",
    "サンライズ",
    "グリーン",
    "ロイヤル",
    "エスポワール",
    "ベルエア",
    "シャトー",
    "ソレイユ",
    "アルカディア",
    "パークサイド",
)
BUILDING_KINDS: Final[tuple[str, ...]] = (
    "ハイツ",
    "マンション",
    "レジデンス",
    "コーポ",
    "荘",
    "ヒルズ",
    "パレス",
    "アパート",
    "タワー",
)

# Where 転出予定 (move-out filed) residents are going.
MOVEOUT_DESTINATIONS: Final[tuple[str, ...]] = (
    "福岡県福岡市博多区博多駅前2丁目3番4号",
    "熊本県熊本市中央区手取本町5番1号",
    "東京都世田谷区太子堂4丁目1番1号",
    "宮崎県宮崎市橘通東1丁目9番10号",
    "大阪府大阪市北区梅田1丁目2番3号",
    "鹿児島県霧島市国分中央3丁目45番1号",
    "鹿児島県姶良市加治木町本町253番地",
    "沖縄県那覇市泉崎1丁目1番1号",
)
