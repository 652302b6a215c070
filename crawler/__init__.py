"""The ccnews Scrapy project: spiders discover articles, pipelines extract and archive them."""
