"""Short everyday sentences per eSpeak language, emotionally neutral in wording so that only
the voice carries the emotion (as in ESD and PAVOQUE, where the same text is spoken in every style)."""

from __future__ import annotations

SENTENCES: dict[str, list[str]] = {
    "cmn": ["我们明天早上去公园", "这本书放在桌子上", "他下午三点到车站", "今天的天气比较凉快", "请把窗户打开一点",
            "她在厨房里做晚饭", "这条路通向学校", "我的电话在包里面", "会议改到星期四了", "火车七点半出发",
            "他们住在城市东边", "桌上有两杯茶", "你把钥匙放哪儿了", "我们坐公共汽车回家", "商店九点关门",
            "这是我的新邻居", "外面在下小雨", "周末我们去看电影", "他把信寄出去了", "孩子们在院子里玩"],
    "yue": ["我哋听日朝早去公园", "呢本书放喺枱面", "佢下昼三点到车站", "今日天气几凉快", "唔该开少少窗",
            "佢喺厨房煮紧饭", "呢条路去学校", "我部电话喺袋入面", "个会改咗星期四", "火车七点半开",
            "佢哋住喺城东边", "枱面有两杯茶", "你将锁匙放咗边度", "我哋搭巴士返屋企", "间铺九点关门",
            "呢个系我新邻居", "出面落紧微微雨", "周末我哋去睇戏", "佢寄咗封信", "啲细路喺院子度玩"],
    "de": ["Wir gehen morgen früh in den Park", "Das Buch liegt auf dem Tisch", "Er kommt um drei am Bahnhof an",
           "Heute ist das Wetter ziemlich kühl", "Bitte mach das Fenster etwas auf", "Sie kocht das Abendessen",
           "Diese Straße führt zur Schule", "Mein Telefon ist in der Tasche", "Die Sitzung ist am Donnerstag",
           "Der Zug fährt um halb acht", "Sie wohnen im Osten der Stadt", "Auf dem Tisch stehen zwei Tassen",
           "Wo hast du den Schlüssel hingelegt", "Wir fahren mit dem Bus nach Hause", "Der Laden schließt um neun",
           "Das ist mein neuer Nachbar", "Draußen regnet es leicht", "Am Wochenende gehen wir ins Kino",
           "Er hat den Brief abgeschickt", "Die Kinder spielen im Hof"],
    "en": ["We are going to the park tomorrow morning", "The book is on the table", "He arrives at the station at three",
           "The weather is rather cool today", "Please open the window a little", "She is cooking dinner in the kitchen",
           "This road leads to the school", "My phone is in the bag", "The meeting moved to Thursday",
           "The train leaves at half past seven", "They live on the east side of town", "There are two cups on the table",
           "Where did you put the keys", "We take the bus home", "The shop closes at nine", "This is my new neighbour",
           "It is raining lightly outside", "We will see a film at the weekend", "He posted the letter",
           "The children are playing in the yard"],
}


def sentences_for(voice: str) -> list[str]:
    """Sentences for an eSpeak voice name such as `en+f3` or `cmn`."""
    lang = voice.split("+", 1)[0]
    if lang not in SENTENCES:
        raise ValueError(f"no demo sentences for voice '{voice}' (have {sorted(SENTENCES)})")
    return SENTENCES[lang]
