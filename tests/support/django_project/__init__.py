"""A Django project for the tests of tchu.contrib.django; its installed apps come from TCHU_TEST_DJANGO_APPS."""
