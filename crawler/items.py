"""What a spider hands to the pipelines: one fetched article, all its pages."""

import scrapy


class ArticleItem(scrapy.Item):
    source = scrapy.Field()  # source id
    url = scrapy.Field()  # URL of page 1 after redirects
    requested_url = scrapy.Field()  # URL as discovered (before redirects)
    pages = scrapy.Field()  # list of dicts: url, status, headers, encoding, body (bytes), text
    listed_date = scrapy.Field()  # date the feed/sitemap/listing gave, if any
    fetched_at = scrapy.Field()
    article = scrapy.Field()  # extracted fields, set by ExtractPipeline
    tags = scrapy.Field()  # cities, fields, network terms, relevance: set by TagPipeline
    skip = scrapy.Field()  # a reason not to archive (not_relevant), recorded by ArchivePipeline
