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


#: Sentences for pre-training the demo models on their own language, none of them an emotion
#: corpus's sentence (checked by `pretrain_sentences`): the encoders learn the language, not
#: the test utterances. The last `HELD_OUT` of each list are never trained on: they measure
#: how language-specific each model is (xlser.demo.pretrain).
PRETRAIN_SENTENCES: dict[str, list[str]] = {
    "cmn": ["我每天早上喝一杯牛奶", "图书馆在银行的对面", "这个苹果很甜", "我们下个月去北京", "他的自行车是蓝色的",
            "妈妈在买菜", "学校门口有一棵大树", "我的朋友会说三种语言", "晚上我们一起吃饭", "这件衣服有点大",
            "医院离这里不远", "他每个星期打两次篮球", "你的房间很干净", "飞机下午五点起飞", "我忘了带雨伞",
            "这家饭馆的面条很好吃", "他在写一封长信", "冬天这里常常下雪", "我们的老师姓王", "请你说慢一点",
            "超市里的人很多", "他把灯关上了", "我的手表停了", "公园里有很多花", "明天我要早点起床",
            "这个问题很简单", "他们在河边散步", "我弟弟喜欢画画", "桌子上有一张地图", "办公室在三楼",
            "她每天坐地铁上班", "这只小猫很可爱", "我们在门口等你", "你喝咖啡还是喝茶", "今天是星期一",
            "山上的空气很新鲜"],
    "de": ["Ich trinke jeden Morgen ein Glas Milch", "Die Bibliothek liegt gegenüber der Bank",
           "Dieser Apfel ist sehr süß", "Nächsten Monat fahren wir nach Berlin", "Sein Fahrrad ist blau",
           "Die Mutter kauft Gemüse ein", "Vor der Schule steht ein großer Baum", "Mein Freund spricht drei Sprachen",
           "Am Abend essen wir zusammen", "Dieses Hemd ist etwas zu groß", "Das Krankenhaus ist nicht weit von hier",
           "Er spielt zweimal in der Woche Fußball", "Dein Zimmer ist sehr sauber", "Das Flugzeug startet um fünf Uhr",
           "Ich habe den Regenschirm vergessen", "Die Nudeln in diesem Lokal schmecken gut",
           "Er schreibt einen langen Brief", "Im Winter schneit es hier oft", "Unsere Lehrerin heißt Wagner",
           "Bitte sprich etwas langsamer", "Im Supermarkt sind viele Leute", "Er hat das Licht ausgemacht",
           "Meine Uhr ist stehen geblieben", "Im Garten blühen viele Blumen", "Morgen muss ich früh aufstehen",
           "Diese Frage ist ganz einfach", "Sie gehen am Fluss spazieren", "Mein Bruder malt gern Bilder",
           "Auf dem Schreibtisch liegt eine Karte", "Das Büro ist im dritten Stock",
           "Sie fährt jeden Tag mit der Bahn zur Arbeit", "Die kleine Katze schläft auf dem Sofa",
           "Wir warten vor der Tür auf dich", "Möchtest du Kaffee oder Tee", "Heute ist Montag",
           "Die Luft in den Bergen ist frisch"],
    "en": ["I drink a glass of milk every morning", "The library is across from the bank", "This apple is very sweet",
           "Next month we travel to London", "His bicycle is blue", "Mother is buying vegetables",
           "A tall tree stands in front of the school", "My friend speaks three languages",
           "In the evening we eat together", "This shirt is a little too big", "The hospital is not far from here",
           "He plays football twice a week", "Your room is very clean", "The plane takes off at five",
           "I forgot my umbrella", "The noodles in this place are good", "He is writing a long letter",
           "It often snows here in winter", "Our teacher is called Mister Wagner", "Please speak a bit more slowly",
           "There are many people in the supermarket", "He switched off the light", "My watch has stopped",
           "Many flowers grow in the garden", "Tomorrow I have to get up early", "This question is quite simple",
           "They walk along the river", "My brother likes to draw pictures", "A map lies on the desk",
           "The office is on the third floor", "She takes the underground to work every day",
           "The little cat sleeps on the sofa", "We wait for you at the door", "Would you like coffee or tea",
           "Today is Monday", "The mountain air is fresh"],
}
HELD_OUT = 8


def pretrain_sentences(lang: str) -> tuple[list[str], list[str]]:
    """(training, held-out) pre-training sentences of an eSpeak language such as `en` or `cmn`."""
    if lang not in PRETRAIN_SENTENCES:
        raise ValueError(f"no demo pre-training sentences for language '{lang}' (have {sorted(PRETRAIN_SENTENCES)})")
    sents = PRETRAIN_SENTENCES[lang]
    overlap = set(sents) & {s for v in SENTENCES.values() for s in v}
    if overlap:
        raise ValueError(f"pre-training sentences of '{lang}' include emotion-corpus sentences: {sorted(overlap)}")
    return sents[:-HELD_OUT], sents[-HELD_OUT:]
