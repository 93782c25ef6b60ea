"""Real-shaped seed feeds (RSS 2.0, RSS 1.0, Atom) written for the hostile-input tests."""

from __future__ import annotations

RSS2 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Example Wire</title><link>https://wire.example/</link><description>News</description>
<item><title>Convoys meet near the border</title><link>https://wire.example/a/1?utm_source=x</link>
<guid isPermaLink="false">wire-1</guid><pubDate>Sat, 21 Nov 2026 10:00:00 GMT</pubDate>
<description>&lt;p&gt;Two &lt;b&gt;convoys&lt;/b&gt; met &amp;amp; stopped.&lt;/p&gt;</description>
<content:encoded><![CDATA[<p>Full <i>text</i> here.</p>]]></content:encoded><dc:creator>Desk</dc:creator></item>
<item><title>Port strike enters second week</title><link>https://wire.example/a/2</link>
<pubDate>Sat, 21 Nov 2026 11:00:00 +0100</pubDate><description>Dockers walked out.</description></item>
</channel></rss>
"""

RSS1 = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://rdf.example/"><title>RDF Daily</title><link>https://rdf.example/</link>
<description>d</description><items><rdf:Seq><rdf:li rdf:resource="https://rdf.example/1"/></rdf:Seq></items></channel>
<item rdf:about="https://rdf.example/1"><title>Ministers agree on grain corridor</title>
<link>https://rdf.example/1</link><description>Talks ended late.</description>
<dc:date>2026-11-21T09:30:00Z</dc:date></item>
<item rdf:about="https://rdf.example/2"><title>Flooding closes rail line</title><link>https://rdf.example/2</link></item>
</rdf:RDF>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Atom Times</title><id>urn:uuid:feed</id>
<updated>2026-11-21T12:00:00Z</updated><link href="https://atom.example/"/>
<entry><title type="html">Strike &lt;em&gt;spreads&lt;/em&gt;</title><id>urn:uuid:1</id>
<link rel="alternate" href="https://atom.example/1"/><updated>2026-11-21T12:00:00Z</updated>
<summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Unions <b>call</b> a vote.</div></summary></entry>
<entry><title>Election results delayed</title><id>tag:atom.example,2026:2</id>
<published>2026-11-20T08:00:00+02:00</published>
<content type="text">Counting continues.</content></entry>
</feed>
"""

SEEDS = {"rss2": RSS2, "rss1": RSS1, "atom": ATOM}
